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
