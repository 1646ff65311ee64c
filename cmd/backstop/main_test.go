package main

import (
	"flag"
	"io"
	"slices"
	"testing"
)

func TestParseInterleaved(t *testing.T) {
	tests := []struct {
		args    []string
		words   []string
		out     string
		raw     bool
		wantErr bool
	}{
		{[]string{"INC-3", "-out", "x.zip"}, []string{"INC-3"}, "x.zip", false, false},
		{[]string{"-out=x.zip", "INC-3"}, []string{"INC-3"}, "x.zip", false, false},
		// A boolean flag takes no value: the word after it stays a word.
		{[]string{"preview", "-raw", "boundary"}, []string{"preview", "boundary"}, "", true, false},
		{[]string{"show", "-raw", "INC-3", "-out", "y"}, []string{"show", "INC-3"}, "y", true, false},
		// After --, everything is a word.
		{[]string{"a", "--", "-out"}, []string{"a", "-out"}, "", false, false},
		{[]string{"a", "-nosuch"}, nil, "", false, true},
	}
	for _, tt := range tests {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		out := fs.String("out", "", "")
		raw := fs.Bool("raw", false, "")
		words, err := parseInterleaved(fs, tt.args)
		if (err != nil) != tt.wantErr {
			t.Errorf("%q: err = %v", tt.args, err)
			continue
		}
		if err != nil {
			continue
		}
		if !slices.Equal(words, tt.words) || *out != tt.out || *raw != tt.raw {
			t.Errorf("%q: words %q out %q raw %v; want %q %q %v", tt.args, words, *out, *raw, tt.words, tt.out, tt.raw)
		}
	}
}
