package mailtest

import (
	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
)

// WithFetchFailure makes the server answer a UID FETCH of a message's body
// with the error fail returns for its UID (nil serves it), as a server does
// for a message damaged in its store; its metadata (RFC822.SIZE, FLAGS) is
// still served. Use an *imap.Error to answer NO.
func WithFetchFailure(fail func(uid imap.UID) error) IMAPOption {
	return func(o *imapOptions) { o.fetchFailure = fail }
}

// faultSession wraps a memory-server session to inject per-command
// failures; it keeps MOVE and NAMESPACE, and so IMAP4rev2.
type faultSession struct {
	imapserver.SessionIMAP4rev2
	fetchFailure func(uid imap.UID) error
}

func (s *faultSession) Fetch(w *imapserver.FetchWriter, numSet imap.NumSet, options *imap.FetchOptions) error {
	if uids, ok := numSet.(imap.UIDSet); ok && s.fetchFailure != nil && len(options.BodySection) > 0 {
		if nums, ok := uids.Nums(); ok {
			for _, uid := range nums {
				if err := s.fetchFailure(uid); err != nil {
					return err
				}
			}
		}
	}
	return s.SessionIMAP4rev2.Fetch(w, numSet, options)
}
