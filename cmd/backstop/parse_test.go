package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// TestRunParse runs `backstop parse` and `backstop parse -explain` on a
// corpus message.
func TestRunParse(t *testing.T) {
	file := "../../mailbox/parse/testdata/corpus/yahoo_de_textonly.eml"
	var out, errb bytes.Buffer
	if err := runParse(context.Background(), []string{file}, &out, &errb); err != nil {
		t.Fatalf("parse: %v (%s)", err, errb.String())
	}
	var m struct {
		Kind      string `json:"kind"`
		Originals []struct {
			From struct{ Address string } `json:"from"`
		} `json:"originals"`
	}
	if err := json.Unmarshal(out.Bytes(), &m); err != nil {
		t.Fatalf("parse output is not JSON: %v\n%s", err, out.String())
	}
	if m.Kind != "forward" || len(m.Originals) != 1 || m.Originals[0].From.Address != "j.weiss@globex.example" {
		t.Errorf("parse = %s", out.String())
	}
	out.Reset()
	if err := runParse(context.Background(), []string{"-explain", file}, &out, &errb); err != nil {
		t.Fatalf("parse -explain: %v (%s)", err, errb.String())
	}
	for _, want := range []string{"original 1: Jürgen Weiß <j.weiss@globex.example>", "found by: header block line 4 (all its fields on one line)", "reply text: cut at line 4", "   4  "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("parse -explain lacks %q:\n%s", want, out.String())
		}
	}
}
