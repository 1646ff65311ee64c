package parse

import (
	"bytes"
	"os"
	"testing"
)

// BenchmarkParseCorpus parses the corpus messages one per iteration:
// MB/s is parsing throughput, allocs/op the allocations per message.
func BenchmarkParseCorpus(b *testing.B) {
	files := corpusFiles(b)
	var msgs [][]byte
	var total int64
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		msgs = append(msgs, data)
		total += int64(len(data))
	}
	if len(msgs) == 0 {
		b.Fatal("no corpus in testdata/corpus")
	}
	b.SetBytes(total / int64(len(msgs)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_, _ = Parse(bytes.NewReader(msgs[i%len(msgs)])) // a message backstop cannot read still costs its parse
	}
}

// forwardMessage is a ~1 KB forward of an abusive customer email, as
// mailbox.Compose writes one: a note above a Gmail-style forwarded header
// block, and the original quoting an earlier message.
const forwardMessage = "From: Agent <agent@acme.example>\r\n" +
	"To: Backstop <backstop@acme.example>\r\n" +
	"Subject: Fwd: Re: Ticket #4471 export still broken\r\n" +
	"Date: Mon, 06 Jan 2025 10:12:00 +0100\r\n" +
	"Message-ID: <fwd-4471@acme.example>\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"\r\n" +
	"Hi, this one got really personal. I'd rather not deal with them again.\r\n" +
	"\r\n" +
	"---------- Forwarded message ---------\r\n" +
	"From: Customer <c123@globex.example>\r\n" +
	"Date: Mon, Jan 6, 2025 at 9:00 AM\r\n" +
	"Subject: Re: Ticket #4471 export still broken\r\n" +
	"To: Agent <agent@acme.example>\r\n" +
	"\r\n" +
	"Are you incompetent or just lazy? I have told you THREE times. If this is\r\n" +
	"not fixed today I will make sure everyone knows what a useless excuse for a\r\n" +
	"support person you are.\r\n" +
	"\r\n" +
	"On Sun, Jan 5, 2025 at 9:00 AM, Customer <c123@globex.example> wrote:\r\n" +
	"> Your export is broken again. Fix it. Now.\r\n"

// BenchmarkParseForward parses one typical forward per iteration: the
// message the backlog drain spends its parsing time on.
func BenchmarkParseForward(b *testing.B) {
	msg := []byte(forwardMessage)
	m, err := Parse(bytes.NewReader(msg))
	if err != nil || m.Kind != KindForward || len(m.Originals) != 2 {
		b.Fatalf("the benchmark message does not parse as a forward of two originals: %v", err)
	}
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_, _ = Parse(bytes.NewReader(msg))
	}
}
