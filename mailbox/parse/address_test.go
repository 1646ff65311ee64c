package parse

import (
	"reflect"
	"testing"
)

func TestParseLooseAddress(t *testing.T) {
	tests := []struct {
		in   string
		want Address
	}{
		{"John Doe <john@example.com>", Address{"John Doe", "john@example.com"}},
		{"John Doe [mailto:john@example.com]", Address{"John Doe", "john@example.com"}},
		{`"john@example.com" <john@example.com>`, Address{"", "john@example.com"}},
		{"john@example.com", Address{"", "john@example.com"}},
		{"<john@example.com>", Address{"", "john@example.com"}},
		{"John Doe", Address{"John Doe", ""}},
		{"John Doe <mailto:john@example.com>", Address{"John Doe", "john@example.com"}},
		{"John Doe (<john@example.com>)", Address{"John Doe", "john@example.com"}},
		{`"Doe, John" <john@example.com>`, Address{"Doe, John", "john@example.com"}},
		{"'John Doe' via Support <support@corp.example>", Address{"John Doe' via Support", "support@corp.example"}},
		{"=?utf-8?q?J=C3=BCrgen?= <j@example.de>", Address{"Jürgen", "j@example.de"}},
		{"*John Doe* <john@example.com>", Address{"John Doe", "john@example.com"}},
		{"山田太郎 <yamada@example.jp>", Address{"山田太郎", "yamada@example.jp"}},
		{"", Address{}},
	}
	for _, tt := range tests {
		if got := parseLooseAddress(tt.in); got != tt.want {
			t.Errorf("parseLooseAddress(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestParseLooseAddressList(t *testing.T) {
	tests := []struct {
		in   string
		want []Address
	}{
		{"a@example.com, B <b@example.com>", []Address{{"", "a@example.com"}, {"B", "b@example.com"}}},
		{"Doe, John <john@example.com>; Smith, Jane <jane@example.com>", []Address{{"Doe, John", "john@example.com"}, {"Smith, Jane", "jane@example.com"}}},
		{"Doe, John <john@example.com>, Smith, Jane <jane@example.com>", []Address{{"Doe, John", "john@example.com"}, {"Smith, Jane", "jane@example.com"}}},
		{"John Doe; Jane Smith", []Address{{"John Doe", ""}, {"Jane Smith", ""}}},
		{`"Doe, John" <john@example.com>, x@y.example`, []Address{{"Doe, John", "john@example.com"}, {"", "x@y.example"}}},
		{"", []Address{}},
	}
	for _, tt := range tests {
		if got := parseLooseAddressList(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseLooseAddressList(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}
