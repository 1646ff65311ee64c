package workflow

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Encryption at rest.
//
// Every sensitive value (see SealedColumns) is stored sealed with AES-256-GCM
// under a data key:
//
//	"\x00BS1" | data key id (8 bytes) | nonce (12 bytes) | ciphertext | tag (16 bytes)
//
// The associated data is the 12-byte header followed by "table.column#rowid",
// so that a value moved to another row, another column or another table no
// longer opens. Data keys are random; they are stored in table seal_keys
// wrapped (sealed) under the storage key, which comes from storage.key_env or
// storage.key_file and is never stored. Rotation (RotateKey) makes a new data
// key and reseals every value under it, one transaction per batch.

// KeySize is the size of a storage key: 32 bytes (AES-256).
const KeySize = 32

const (
	sealMagic   = "\x00BS1"
	keyIDSize   = 8
	headerSize  = len(sealMagic) + keyIDSize
	sealedExtra = headerSize + 12 + 16
)

// ErrNoKey is returned (wrapped) when no storage key is given.
var ErrNoKey = errors.New("no storage key")

// ErrWrongKey is returned (wrapped) when the storage key does not open the
// database's data keys.
var ErrWrongKey = errors.New("wrong storage key")

// SealedColumn is a column whose values are stored encrypted.
type SealedColumn struct {
	Table, Column string
}

// SealedColumns lists every column stored encrypted: everything a customer
// or a teammate wrote. Everything else (ids, addresses, display names,
// organisations, dates, states, classes, Message-IDs, templates, SMTP
// errors, SHA-256 sums, Authentication-Results) is in clear: threading,
// caps, the digest and the block list need it. Adding a sealed column is adding a row here and sealing its
// writes and reads (Store.seal, Store.open).
var SealedColumns = []SealedColumn{
	{"messages", "raw"},        // the whole message as received
	{"message_chunks", "data"}, // or, for a large one, its chunks
	{"messages", "subject"},    // its subject
	{"messages", "reason"},     // why it was quarantined (a parse error may quote the message)
	{"evidence", "body"},       // the forwarded original's text
	{"evidence", "subject"},    // and subject
	{"events", "detail"},       // notes, reasons, reply text
	{"outbox", "mail"},         // the rendered email (bodies, attachments)
	{"outbox", "subject"},      // its subject (a receipt's names the command line)
	{"incidents", "subject"},   // the customer's subject
}

// NewKey returns a new random storage key, base64-encoded, as
// storage.key_file holds it.
func NewKey() string {
	k := make([]byte, KeySize)
	rand.Read(k)
	return base64.StdEncoding.EncodeToString(k)
}

// ParseKey decodes a base64 storage key (surrounding space ignored) and
// checks that it is 32 bytes.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	k, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		k, err = base64.RawStdEncoding.DecodeString(s)
	}
	if err != nil {
		return nil, fmt.Errorf("the storage key is not base64: %w (make one with `openssl rand -base64 32` or `backstop keygen`)", err)
	}
	if len(k) != KeySize {
		return nil, fmt.Errorf("the storage key is %d bytes; it must be %d random bytes, base64 (make one with `openssl rand -base64 32` or `backstop keygen`)", len(k), KeySize)
	}
	return k, nil
}

// KeyID names a storage key without revealing it: the first 8 bytes of a
// SHA-256 of it, in hex.
func KeyID(key []byte) string {
	h := sha256.Sum256(append([]byte("backstop storage key\x00"), key...))
	return hex.EncodeToString(h[:keyIDSize])
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// keyring holds the storage key and the data keys it unwrapped.
type keyring struct {
	master   cipher.AEAD
	masterID string

	mu      sync.RWMutex
	keys    map[string]cipher.AEAD // data key id (hex) → cipher
	current string
}

func newKeyring(master []byte) (*keyring, error) {
	if len(master) == 0 {
		return nil, fmt.Errorf("store: %w", ErrNoKey)
	}
	if len(master) != KeySize {
		return nil, fmt.Errorf("store: the storage key is %d bytes, not %d", len(master), KeySize)
	}
	a, err := newAEAD(master)
	if err != nil {
		return nil, err
	}
	return &keyring{master: a, masterID: KeyID(master), keys: map[string]cipher.AEAD{}}, nil
}

func wrapAAD(id string) []byte { return []byte("seal_keys:" + id) }

// wrap seals a data key under a storage key.
func wrap(master cipher.AEAD, id string, key []byte) []byte {
	nonce := make([]byte, master.NonceSize())
	rand.Read(nonce)
	return master.Seal(nonce, nonce, key, wrapAAD(id))
}

func unwrap(master cipher.AEAD, id string, w []byte) ([]byte, error) {
	if len(w) < master.NonceSize() {
		return nil, errors.New("short wrapped key")
	}
	return master.Open(nil, w[:master.NonceSize()], w[master.NonceSize():], wrapAAD(id))
}

// load reads the data keys wrapped under the storage key and the current
// one. It unwraps only keys it does not know yet.
func (k *keyring) load(ctx context.Context, q querier) error {
	return k.loadFrom(q.QueryContext(ctx, keysQuery, k.masterID))
}

const keysQuery = "SELECT id, wrapped, current FROM seal_keys WHERE master = ?"

// loadKeys is keyring.load through the prepared statement.
func (s *Store) loadKeys(ctx context.Context, tx *sql.Tx) error {
	if st := s.stmts[keysQuery]; st != nil {
		return s.keys.loadFrom(tx.StmtContext(ctx, st).QueryContext(ctx, s.keys.masterID))
	}
	return s.keys.load(ctx, tx)
}

func (k *keyring) loadFrom(rows *sql.Rows, err error) error {
	if err != nil {
		return fmt.Errorf("store: reading the data keys: %w", err)
	}
	defer rows.Close()
	type row struct {
		id      string
		wrapped []byte
		current bool
	}
	var rs []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.id, &r.wrapped, &r.current); err != nil {
			return fmt.Errorf("store: reading the data keys: %w", err)
		}
		rs = append(rs, r)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: reading the data keys: %w", err)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, r := range rs {
		if _, ok := k.keys[r.id]; !ok {
			dk, err := unwrap(k.master, r.id, r.wrapped)
			if err != nil {
				return fmt.Errorf("store: data key %s does not open under storage key %s: %w (the key or the database was altered)", r.id, k.masterID, ErrWrongKey)
			}
			a, err := newAEAD(dk)
			if err != nil {
				return err
			}
			k.keys[r.id] = a
		}
		if r.current {
			k.current = r.id
		}
	}
	return nil
}

func (k *keyring) currentKey() (string, cipher.AEAD) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.current, k.keys[k.current]
}

func (k *keyring) key(id string) cipher.AEAD {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.keys[id]
}

// addDataKey makes a new data key, wraps it under the storage key (and
// under extra storage keys, during a change of storage key) and, when
// current, makes it the one new values are sealed under.
func (k *keyring) addDataKey(ctx context.Context, tx *sql.Tx, now time.Time, current bool, extra ...storageKey) (string, error) {
	raw := make([]byte, KeySize)
	rand.Read(raw)
	idb := make([]byte, keyIDSize)
	rand.Read(idb)
	id := hex.EncodeToString(idb)
	if current {
		if _, err := tx.ExecContext(ctx, "UPDATE seal_keys SET current = 0 WHERE current = 1"); err != nil {
			return "", fmt.Errorf("store: adding a data key: %w", err)
		}
	}
	for _, m := range append([]storageKey{{k.masterID, k.master}}, extra...) {
		_, err := tx.ExecContext(ctx, "INSERT INTO seal_keys (id, master, wrapped, current, created_at) VALUES (?, ?, ?, ?, ?)",
			id, m.id, wrap(m.a, id, raw), current, ms(now))
		if err != nil {
			return "", fmt.Errorf("store: adding a data key: %w", err)
		}
	}
	a, err := newAEAD(raw)
	if err != nil {
		return "", err
	}
	k.mu.Lock()
	k.keys[id] = a
	if current {
		k.current = id
	}
	k.mu.Unlock()
	return id, nil
}

// storageKey is a storage key and its id.
type storageKey struct {
	id string
	a  cipher.AEAD
}

// aad is the associated data of a sealed value: its header and
// "table.column#ref", ref being the row id (or, for a chunk, chunkRef).
func aad(header []byte, table, column, ref string) []byte {
	b := make([]byte, 0, len(header)+len(table)+len(column)+len(ref)+2)
	b = append(b, header...)
	b = append(b, table...)
	b = append(b, '.')
	b = append(b, column...)
	b = append(b, '#')
	return append(b, ref...)
}

// isSealed reports whether v has the sealed format's header.
func isSealed(v []byte) bool {
	return len(v) >= sealedExtra && string(v[:len(sealMagic)]) == sealMagic
}

// sealedKeyID returns the data key id of a sealed value.
func sealedKeyID(v []byte) string {
	return hex.EncodeToString(v[len(sealMagic):headerSize])
}

// seal encrypts plain for column table.column of row under the current
// data key. nil stays nil (SQL NULL) and empty stays empty.
func (s *Store) seal(table, column string, row int64, plain []byte) []byte {
	return s.sealRef(table, column, strconv.FormatInt(row, 10), plain)
}

// sealRef is seal for a value whose associated data names ref rather
// than a row id.
func (s *Store) sealRef(table, column, ref string, plain []byte) []byte {
	if len(plain) == 0 {
		return plain
	}
	id, a := s.keys.currentKey()
	if a == nil {
		panic("workflow: sealing without a data key")
	}
	idb, _ := hex.DecodeString(id)
	out := make([]byte, headerSize+12, headerSize+12+len(plain)+16)
	copy(out, sealMagic)
	copy(out[len(sealMagic):], idb)
	nonce := out[headerSize:]
	rand.Read(nonce)
	return a.Seal(out, nonce, plain, aad(out[:headerSize], table, column, ref))
}

// sealString is seal for TEXT columns: the sealed value is a BLOB.
func (s *Store) sealString(table, column string, row int64, plain string) any {
	if plain == "" {
		return ""
	}
	return s.seal(table, column, row, []byte(plain))
}

// open decrypts a value of table.column of row. Empty and NULL values are
// returned as they are.
func (s *Store) open(table, column string, row int64, v []byte) ([]byte, error) {
	return s.openRef(table, column, strconv.FormatInt(row, 10), v)
}

// openRef is open for a value sealed with sealRef. The plain text is
// decrypted in place, over v.
func (s *Store) openRef(table, column, ref string, v []byte) ([]byte, error) {
	if len(v) == 0 {
		return v, nil
	}
	if !isSealed(v) {
		return nil, fmt.Errorf("store: %s.%s of row %s is not encrypted: the database was changed outside backstop", table, column, ref)
	}
	id := sealedKeyID(v)
	a := s.keys.key(id)
	if a == nil {
		return nil, fmt.Errorf("store: %s.%s of row %s is sealed under data key %s, which storage key %s does not hold: %w", table, column, ref, id, s.keys.masterID, ErrWrongKey)
	}
	body := v[headerSize+12:]
	plain, err := a.Open(body[:0], v[headerSize:headerSize+12], body, aad(v[:headerSize], table, column, ref))
	if err != nil {
		return nil, fmt.Errorf("store: %s.%s of row %s does not decrypt: it was altered or moved from another row: %w", table, column, ref, err)
	}
	return plain, nil
}

func (s *Store) openString(table, column string, row int64, v []byte) (string, error) {
	b, err := s.open(table, column, row, v)
	return string(b), err
}

// nextID returns the id the next row inserted into table will get (the
// tables use AUTOINCREMENT), so that a value can be sealed with its row id
// before the INSERT. Inside a write transaction nobody else can insert.
// Within one transaction the ids are counted in memory after the first
// query: every INSERT into these tables takes its id from here.
func (s *Store) nextID(ctx context.Context, tx *sql.Tx, table string) (int64, error) {
	s.idsMu.Lock()
	defer s.idsMu.Unlock()
	s.useTx(tx)
	if id := s.ids[table]; id > 0 {
		s.ids[table] = id + 1
		return id, nil
	}
	var id int64
	err := s.query(ctx, tx, nextIDQuery(table), table).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("store: next %s id: %w", table, err)
	}
	s.ids[table] = id + 1
	return id, nil
}

// useTx makes tx the transaction whose ids and chain heads are counted,
// dropping those of another. Called with idsMu held.
func (s *Store) useTx(tx *sql.Tx) {
	if s.idsTx != tx {
		s.idsTx, s.ids, s.heads = tx, map[string]int64{}, map[int64]string{}
	}
}

// forgetIDs drops the counted ids and chain heads, after a rollback of
// part of a transaction or at the start of another: the next nextID and
// chainHead read them from the tables again.
func (s *Store) forgetIDs() {
	s.idsMu.Lock()
	s.idsTx, s.ids, s.heads = nil, nil, nil
	s.idsMu.Unlock()
}

func nextIDQuery(table string) string {
	return `SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = ?), 0),
		coalesce((SELECT id FROM ` + table + ` ORDER BY id DESC LIMIT 1), 0)) + 1`
}

// hotQueries are prepared once at Open (see Store.query).
func hotQueries() []string {
	qs := []string{keysQuery, headQuery, headNullQuery, slotQuery, slotNullQuery}
	for _, t := range []string{"messages", "evidence", "events", "outbox", "incidents"} {
		qs = append(qs, nextIDQuery(t))
	}
	return qs
}

// prepare prepares the hot queries; it runs at Open, outside any
// transaction (the one connection would be busy inside one).
func (s *Store) prepare(ctx context.Context) error {
	s.stmts = map[string]*sql.Stmt{}
	for _, q := range hotQueries() {
		st, err := s.db.PrepareContext(ctx, q)
		if err != nil {
			return fmt.Errorf("store: preparing %q: %w", q, err)
		}
		s.stmts[q] = st
	}
	return nil
}

// query runs one of the hot queries in tx (prepared when Open prepared
// it, else as it is).
func (s *Store) query(ctx context.Context, q querier, query string, args ...any) *sql.Row {
	if st := s.stmts[query]; st != nil {
		if tx, ok := q.(*sql.Tx); ok {
			return tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
		}
	}
	return q.QueryRowContext(ctx, query, args...)
}

// checkKey checks the storage key against the database before anything
// is written: the database must hold data keys wrapped under it, or none at
// all (a new or not yet encrypted database).
func (s *Store) checkKey(ctx context.Context) error {
	var n int
	if err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'seal_keys'").Scan(&n); err != nil {
		return fmt.Errorf("store: reading %s: %w", s.path, err)
	}
	if n == 0 {
		return nil
	}
	var masters []string
	rows, err := s.db.QueryContext(ctx, "SELECT DISTINCT master FROM seal_keys ORDER BY master")
	if err != nil {
		return fmt.Errorf("store: reading %s: %w", s.path, err)
	}
	for rows.Next() {
		var m string
		rows.Scan(&m)
		masters = append(masters, m)
	}
	rows.Close()
	if len(masters) == 0 {
		return nil
	}
	for _, m := range masters {
		if m == s.keys.masterID {
			return s.keys.load(ctx, s.db)
		}
	}
	return fmt.Errorf("store: %s is encrypted under storage key %s, but storage.key_env/storage.key_file gives key %s: %w; give the key the database was made with (nothing was changed)",
		s.path, strings.Join(masters, ", "), s.keys.masterID, ErrWrongKey)
}

// setupKeys runs after the migrations: a database without data keys gets
// its first one, and one holding values in clear (made by a backstop
// before encryption) is marked for sealing.
func (s *Store) setupKeys(ctx context.Context) (migrating bool, err error) {
	if err := s.keys.load(ctx, s.db); err != nil {
		return false, err
	}
	if id, _ := s.keys.currentKey(); id != "" {
		return false, nil
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		id, err := s.keys.addDataKey(ctx, tx, time.Now(), true)
		if err != nil {
			return err
		}
		var data int
		err = tx.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM messages) + (SELECT count(*) FROM events) + (SELECT count(*) FROM outbox)`).Scan(&data)
		if err != nil {
			return err
		}
		if data > 0 {
			migrating = true
			_, err = tx.ExecContext(ctx, "INSERT INTO seal_meta (name, value) VALUES ('pass', ?), ('encrypting', '1') ON CONFLICT (name) DO UPDATE SET value = excluded.value", id)
		}
		return err
	})
	return migrating, err
}

// RotateStats says what a rotation or first encryption did.
type RotateStats struct {
	Key      string // the data key values are now sealed under
	Resealed int    // values sealed under it by this run
	Old      int    // data key wraps removed
	Resumed  bool   // an interrupted rotation was finished, no new key made
}

// batchSize is how many rows one rotation transaction reseals.
var batchSize = 200

// RotateKey makes a new data key current and reseals every value under it,
// one transaction per batch of rows, so that serve goes on working. An
// interrupted rotation resumes where it stopped when RotateKey (or Open) is
// run again; it then starts no new key. newMaster, when not nil, is a new
// storage key: every data key is also wrapped under it, and when the
// rotation ends only the new storage key opens the database.
func (s *Store) RotateKey(ctx context.Context, newMaster []byte) (RotateStats, error) {
	var target string
	var resumed bool
	var extra []storageKey
	if newMaster != nil {
		if len(newMaster) != KeySize {
			return RotateStats{}, fmt.Errorf("store: the new storage key is %d bytes, not %d", len(newMaster), KeySize)
		}
		a, err := newAEAD(newMaster)
		if err != nil {
			return RotateStats{}, err
		}
		extra = []storageKey{{KeyID(newMaster), a}}
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, "SELECT value FROM seal_meta WHERE name = 'pass'").Scan(&target)
		if err == nil {
			resumed = true
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		for _, e := range extra {
			// The new data key is wrapped under both storage keys, so that
			// a serve started with the old one goes on working meanwhile.
			if _, err := tx.ExecContext(ctx, "INSERT INTO seal_meta (name, value) VALUES ('new_master', ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value", e.id); err != nil {
				return err
			}
		}
		target, err = s.keys.addDataKey(ctx, tx, time.Now(), true, extra...)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO seal_meta (name, value) VALUES ('pass', ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value", target)
		return err
	})
	if err != nil {
		return RotateStats{}, fmt.Errorf("store: starting the key rotation: %w", err)
	}
	st, err := s.finishPass(ctx)
	st.Resumed = resumed
	return st, err
}

// finishPass reseals, batch by batch, every value not under the data key
// of the pending pass, then removes the data keys (and storage key wraps)
// no longer needed. Without a pending pass it does nothing.
func (s *Store) finishPass(ctx context.Context) (RotateStats, error) {
	var st RotateStats
	var target string
	err := s.db.QueryRowContext(ctx, "SELECT value FROM seal_meta WHERE name = 'pass'").Scan(&target)
	if errors.Is(err, sql.ErrNoRows) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("store: %w", err)
	}
	st.Key = target
	if err := s.keys.load(ctx, s.db); err != nil {
		return st, err
	}
	for _, c := range SealedColumns {
		for {
			n, done, err := s.resealBatch(ctx, c, target)
			st.Resealed += n
			if err != nil {
				return st, err
			}
			if done {
				break
			}
			if s.afterBatch != nil {
				s.afterBatch()
			}
		}
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		var newMaster string
		if err := tx.QueryRowContext(ctx, "SELECT value FROM seal_meta WHERE name = 'new_master'").Scan(&newMaster); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		res, err := tx.ExecContext(ctx, "DELETE FROM seal_keys WHERE id != ?", target)
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		st.Old = int(n)
		if newMaster != "" {
			if _, err := tx.ExecContext(ctx, "DELETE FROM seal_keys WHERE master != ?", newMaster); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, "DELETE FROM seal_meta WHERE name = 'pass' OR name = 'new_master' OR name LIKE 'cursor:%'")
		return err
	})
	if err != nil {
		return st, fmt.Errorf("store: ending the key rotation: %w", err)
	}
	return st, nil
}

// resealBatch reseals the next batch of one column after the pass's
// cursor, in one transaction that also advances the cursor.
func (s *Store) resealBatch(ctx context.Context, c SealedColumn, target string) (n int, done bool, err error) {
	cursorName := "cursor:" + c.Table + "." + c.Column
	err = s.tx(ctx, func(tx *sql.Tx) error {
		var cursor int64
		var v string
		if err := tx.QueryRowContext(ctx, "SELECT value FROM seal_meta WHERE name = ?", cursorName).Scan(&v); err == nil {
			cursor, _ = strconv.ParseInt(v, 10, 64)
		} else if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		ref, batch := "id", batchSize
		if r, ok := sealRefs[c]; ok {
			ref, batch = r.ref, min(batch, r.batch)
		}
		rows, err := tx.QueryContext(ctx, fmt.Sprintf("SELECT id, %s, %s FROM %s WHERE id > ? ORDER BY id LIMIT %d", ref, c.Column, c.Table, batch), cursor)
		if err != nil {
			return err
		}
		type item struct {
			id  int64
			ref string
			v   []byte
		}
		var items []item
		for rows.Next() {
			var it item
			if err := rows.Scan(&it.id, &it.ref, &it.v); err != nil {
				rows.Close()
				return err
			}
			items = append(items, it)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(items) == 0 {
			done = true
			return nil
		}
		for _, it := range items {
			if len(it.v) == 0 || (isSealed(it.v) && sealedKeyID(it.v) == target) {
				continue
			}
			plain := it.v
			if isSealed(it.v) {
				if plain, err = s.openRef(c.Table, c.Column, it.ref, it.v); err != nil {
					return err
				}
			}
			if _, err := tx.ExecContext(ctx, fmt.Sprintf("UPDATE %s SET %s = ? WHERE id = ?", c.Table, c.Column), s.sealRef(c.Table, c.Column, it.ref, plain), it.id); err != nil {
				return err
			}
			n++
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO seal_meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
			cursorName, strconv.FormatInt(items[len(items)-1].id, 10))
		return err
	})
	if err != nil {
		return n, false, fmt.Errorf("store: resealing %s.%s: %w", c.Table, c.Column, err)
	}
	return n, done, nil
}

// digest is the hex SHA-256 of b.
func digest(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// setupPrivacy runs after the migrations: the first data key, the sealing
// of a database made before encryption (its hashes and chain first), and
// any sealing pass left unfinished.
func (s *Store) setupPrivacy(ctx context.Context) error {
	s.hasKeyTable = true
	if err := s.prepare(ctx); err != nil {
		return err
	}
	migrating, err := s.setupKeys(ctx)
	if err != nil {
		return err
	}
	var encrypting int
	if err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM seal_meta WHERE name = 'encrypting'").Scan(&encrypting); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if encrypting == 0 {
		// A key rotation left unfinished is finished by rotate-key; the
		// values are readable meanwhile.
		return nil
	}
	if err := s.backfillDigests(ctx); err != nil {
		return fmt.Errorf("store: recording the SHA-256 of existing evidence: %w", err)
	}
	if err := s.backfillChain(ctx); err != nil {
		return fmt.Errorf("store: hash-chaining the existing audit trail: %w", err)
	}
	st, err := s.finishPass(ctx)
	if err != nil {
		return err
	}
	if _, err := s.db.ExecContext(ctx, "DELETE FROM seal_meta WHERE name = 'encrypting'"); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if migrating || encrypting > 0 {
		s.encrypted = &st
		// Rewrite the file: the values in clear it held stay in no free
		// page, and retention can give pages back from now on.
		for _, q := range []string{"PRAGMA auto_vacuum = INCREMENTAL", "VACUUM", "PRAGMA wal_checkpoint(TRUNCATE)"} {
			if _, err := s.db.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("store: %s on %s: %w", q, s.path, err)
			}
		}
	}
	return nil
}

// Encrypted returns what Open did to a database made before encryption
// (values sealed), or nil when it found it encrypted already. serve logs it.
func (s *Store) Encrypted() *RotateStats { return s.encrypted }

// backfillDigests records the SHA-256 of the originals and evidence texts
// of a database made before they were recorded.
func (s *Store) backfillDigests(ctx context.Context) error {
	for _, c := range []SealedColumn{{"messages", "raw"}, {"evidence", "body"}} {
		err := s.tx(ctx, func(tx *sql.Tx) error {
			rows, err := tx.QueryContext(ctx, fmt.Sprintf("SELECT id, %s FROM %s WHERE sha256 = '' AND %s IS NOT NULL AND %s != ''", c.Column, c.Table, c.Column, c.Column))
			if err != nil {
				return err
			}
			sums := map[int64]string{}
			for rows.Next() {
				var id int64
				var v []byte
				if err := rows.Scan(&id, &v); err != nil {
					rows.Close()
					return err
				}
				if isSealed(v) {
					if v, err = s.open(c.Table, c.Column, id, v); err != nil {
						rows.Close()
						return err
					}
				}
				sums[id] = digest(v)
			}
			rows.Close()
			for id, sum := range sums {
				if _, err := tx.ExecContext(ctx, fmt.Sprintf("UPDATE %s SET sha256 = ? WHERE id = ?", c.Table), sum, id); err != nil {
					return err
				}
			}
			return rows.Err()
		})
		if err != nil {
			return err
		}
	}
	return nil
}
