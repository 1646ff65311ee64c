package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// TestDemo runs the README's first command as a user would, without
// -keep: the scenario must reach the boundary email on its own.
func TestDemo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out, log bytes.Buffer
	if err := runDemo(ctx, []string{"-keep=false", "-hold", "1s", "-v"}, &out, &log); err != nil {
		t.Fatalf("demo: %v\ndaemon log:\n%s", err, log.String())
	}
	for _, want := range []string{
		"INC-1  reported",
		"[INC-1] Thank you",
		"INC-1  boundary_sent",
		"To:       Jordan Miles <jordan@globex.example>",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", out.String())
	}
}
