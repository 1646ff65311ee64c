package parse

import (
	"reflect"
	"testing"
)

func TestParseAuthResults(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []AuthResult
	}{
		{
			name: "gmail style with comments",
			in: "mx.google.com;\r\n       dkim=pass header.i=@acme.example header.s=sel header.b=abc;\r\n" +
				"       spf=pass (google.com: domain of jane@acme.example designates 192.0.2.1 as permitted sender; x=y) smtp.mailfrom=jane@acme.example;\r\n" +
				"       dmarc=pass (p=REJECT sp=REJECT dis=NONE) header.from=acme.example",
			want: []AuthResult{{ServID: "mx.google.com", DMARCPass: []string{"acme.example"}}},
		},
		{
			name: "dkim with header.d",
			in:   "MX.Acme.Example 1; dkim=pass header.d=Acme.Example; dmarc=fail header.from=acme.example",
			want: []AuthResult{{ServID: "mx.acme.example", DKIMPass: []string{"acme.example"}, DMARCFail: []string{"acme.example"}}},
		},
		{
			name: "smtp auth",
			in:   "mx.acme.example; auth=pass smtp.auth=jane@acme.example; dmarc=pass header.from=acme.example",
			want: []AuthResult{{ServID: "mx.acme.example", DMARCPass: []string{"acme.example"}, SMTPAuth: "jane@acme.example"}},
		},
		{name: "none", in: "mx.acme.example; none", want: []AuthResult{{ServID: "mx.acme.example"}}},
		{name: "garbage keeps its place", in: ";;;", want: []AuthResult{{}}},
		{name: "unsupported version", in: "mx.acme.example 2; dmarc=pass header.from=acme.example", want: []AuthResult{{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ParseAuthResults([]string{tt.in})
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}
