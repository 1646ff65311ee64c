package main

import (
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"backstop/mailbox/mailtest"
)

// BenchmarkPipeline measures the whole pipeline: N forwards are appended to
// the in-process IMAP server, then backstop runs until all are incidents
// (parse, one SQLite transaction each, move). In the same run it measures a
// bare UID FETCH BODY.PEEK[] of the same messages from the same server, so
// the pipeline's rate reads as a fraction of what the server can deliver.
// Allocations cover the whole process, servers included.
func BenchmarkPipeline(b *testing.B) {
	const n = 200
	b.ReportAllocs()
	var pipeline, fetch time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		h := newHarness(b, backends[0])
		srv := h.imap.(*mailtest.IMAPServer)
		var size int64
		for j := range n {
			raw := forward(b, j, fmt.Sprintf("c%d@org%d.example", j, j))
			size += int64(len(raw))
			srv.Append("INBOX", raw)
		}
		st := h.store()

		// What the server can deliver: one UID FETCH of every body.
		c := srv.NewClient(b)
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		fc := c.Fetch(imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}}, &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Peek: true}}})
		got := 0
		for msg := fc.Next(); msg != nil; msg = fc.Next() {
			for item := msg.Next(); item != nil; item = msg.Next() {
				if body, ok := item.(imapclient.FetchItemDataBodySection); ok {
					io.Copy(io.Discard, body.Literal)
					got++
				}
			}
		}
		if err := fc.Close(); err != nil || got != n {
			b.Fatalf("bare fetch: %d of %d bodies: %v", got, n, err)
		}
		fetch += time.Since(t0)
		c.Close()

		// The pipeline: from start until every forward is an incident.
		b.StartTimer()
		t0 = time.Now()
		h.start()
		h.eventually("all incidents", func() bool { return len(h.incidents(st)) == n })
		pipeline += time.Since(t0)
		b.StopTimer()
		h.stop()
		b.SetBytes(size)
	}
	msgs := float64(n * b.N)
	b.ReportMetric(msgs/pipeline.Seconds(), "incidents/s")
	b.ReportMetric(msgs/fetch.Seconds(), "fetched/s")
	b.ReportMetric(100*fetch.Seconds()/pipeline.Seconds(), "%of-fetch-rate")
}
