package main

import (
	"runtime/debug"
	"testing"
)

// TestTuneGC: serve sets its collector target unless GOGC chose one.
func TestTuneGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	for _, c := range []struct {
		gogc, want string
		percent    int // in force afterwards
	}{
		{"", "200", serveGCPercent},
		{"50", "50", 100}, // the runtime read GOGC itself: left alone
		{"off", "off", 100},
	} {
		debug.SetGCPercent(100)
		got := tuneGC(func(k string) string {
			if k == "GOGC" {
				return c.gogc
			}
			return ""
		})
		if got != c.want {
			t.Errorf("GOGC=%q: tuneGC = %q, want %q", c.gogc, got, c.want)
		}
		if p := debug.SetGCPercent(100); p != c.percent {
			t.Errorf("GOGC=%q: GC percent %d in force, want %d", c.gogc, p, c.percent)
		}
	}
}
