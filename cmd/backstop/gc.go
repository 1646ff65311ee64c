package main

import (
	"runtime/debug"
	"strconv"
)

// serveGCPercent is the garbage collector's target for serve (Go's GOGC):
// the heap may grow to three times what is live before a collection, not
// twice. backstop's live heap is small (about 20 MB) and every message
// allocates a few hundred kilobytes that are garbage once it is recorded:
// with Go's default of 100, collections ran about every 80 messages of a
// backlog and took the cores the drain needs (cmd/bench: 886 msg/s at 100,
// 1,138 msg/s at 200 for the same 10,000 forwards, for 3 MB more peak
// RSS). A large message gives its memory back by itself (FreeOSMemory).
const serveGCPercent = 200

// tuneGC sets serveGCPercent unless the operator chose a target with the
// GOGC environment variable, which then stands. It returns the target in
// force.
func tuneGC(getenv func(string) string) string {
	if v := getenv("GOGC"); v != "" {
		return v
	}
	debug.SetGCPercent(serveGCPercent)
	return strconv.Itoa(serveGCPercent)
}
