// Package mailtest starts real mail servers for tests: go-imap's in-memory
// IMAP server on 127.0.0.1:0, a loopback TCP proxy that injects faults
// (dropped connections, cuts mid-literal, black holes, hidden capabilities)
// and a real Dovecot when it is installed and BACKSTOP_TEST_DOVECOT=1.
//
// Every constructor takes a testing.TB, listens on the loopback interface
// only and stops what it started in t.Cleanup. Helpers that talk to a server
// (Append, Messages, ...) call t.Fatal on failure, so call them from the
// test's goroutine.
package mailtest
