package workflow

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" driver, pure Go
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Store is backstop's database: one SQLite file in WAL mode. All access goes
// through one connection, so that writers never race for the lock
// (read-then-write transactions upgrading their lock fail with SQLITE_BUSY
// under concurrency, whatever the busy timeout).
type Store struct {
	db   *sql.DB
	path string
	dsn  string // what Open opened, for the checkpointer's own connection
	// checkpointNow asks RunCheckpoints for a checkpoint now (a group
	// committed): buffered, one request at most.
	checkpointNow chan struct{}

	// afterCheckpoint, when set, is told what each of RunCheckpoints'
	// checkpoints found: the WAL's frames and how many are in the
	// database now (tests wait for it).
	afterCheckpoint func(walFrames, copied int)

	desk atomic.Pointer[Desk] // queues notices for the dispatcher; set by NewDesk
	keys *keyring
	// afterBatch, when set, runs after each committed batch of a sealing
	// pass (tests interrupt a rotation with it).
	afterBatch func()
	// stmts are the statements of the privacy layer (ids, chain heads,
	// keys), prepared once at Open: they run on every insert.
	stmts map[string]*sql.Stmt
	// ids counts the next row ids within the transaction idsTx (nextID),
	// and heads holds the head of each audit chain an event was appended
	// to in it (chainHead): both are what that transaction wrote, so no
	// query needs to read them back. begin and a rollback clear them.
	idsMu sync.Mutex
	idsTx *sql.Tx
	ids   map[string]int64
	heads map[int64]string
	// hasKeyTable is set once the schema has seal_keys.
	hasKeyTable bool
	// encrypted is what this Open did to a database made before encryption.
	encrypted *RotateStats
}

// ErrNotFound is returned (wrapped) when an incident or row does not exist.
var ErrNotFound = errors.New("not found")

// Open opens the database at path, creating it with mode 0600 when missing,
// and brings its schema up to date. It refuses a database written by a newer
// backstop. key is the storage key (32 bytes; see ParseKey): without it, or
// with a key that is not the database's, Open fails before changing
// anything. A database made before encryption is encrypted by the first
// Open with a key (see Encrypted); an interrupted key rotation is finished.
func Open(ctx context.Context, filename string, key []byte) (*Store, error) {
	if filename == "" {
		return nil, errors.New("store: no database path given")
	}
	keys, err := newKeyring(key)
	if err != nil {
		return nil, err
	}
	// Create the file ourselves so that it never exists with a wider mode.
	f, err := os.OpenFile(filename, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("store: opening %s: %w (does the directory exist and is it writable?)", filename, err)
	}
	f.Close()
	if err := os.Chmod(filename, 0o600); err != nil {
		return nil, fmt.Errorf("store: restricting %s to mode 0600: %w", filename, err)
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	// Deleted content is overwritten, not left in free pages (retention).
	q.Add("_pragma", "secure_delete(ON)")
	// Sorts and temporary tables stay in memory: no temporary file ever
	// holds a decrypted value (they are decrypted in Go anyway).
	q.Add("_pragma", "temp_store(MEMORY)")
	// After a checkpoint the WAL is cut back to this size: a burst does not
	// leave a large file behind.
	q.Add("_pragma", fmt.Sprintf("journal_size_limit(%d)", walSizeLimit))
	q.Set("_txlock", "immediate")
	dsn := "file:" + (&url.URL{Path: filename}).EscapedPath() + "?" + q.Encode()
	connector, err := newCachingConnector(dsn)
	if err != nil {
		return nil, fmt.Errorf("store: opening %s: %w", filename, err)
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	s := &Store{db: db, path: filename, dsn: dsn, keys: keys, checkpointNow: make(chan struct{}, 1)}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: opening %s: %w (is it an SQLite database?)", filename, err)
	}
	if err := s.checkKey(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if err := s.setupPrivacy(ctx); err != nil {
		db.Close()
		return nil, err
	}
	for _, side := range []string{"-wal", "-shm"} {
		if err := os.Chmod(filename+side, 0o600); err != nil && !errors.Is(err, fs.ErrNotExist) {
			db.Close()
			return nil, fmt.Errorf("store: restricting %s to mode 0600: %w", filename+side, err)
		}
	}
	return s, nil
}

// walSizeLimit is the size the WAL is truncated to after a checkpoint.
const walSizeLimit = 16 << 20

// Checkpoint copies the WAL into the database and truncates it (SQLite's
// wal_checkpoint(TRUNCATE)). SQLite checkpoints by itself every 1,000
// pages, but only as far as no reader still needs; a checkpoint that
// could not complete (busy is true) leaves the WAL for the next one.
// serve calls it periodically, so that the WAL cannot grow without bound.
func (s *Store) Checkpoint(ctx context.Context) (busy bool, walPages int, err error) {
	var b, logPages, done int
	if err := s.db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&b, &logPages, &done); err != nil {
		return false, 0, fmt.Errorf("store: checkpointing the WAL of %s: %w", s.path, err)
	}
	return b != 0, logPages, nil
}

// Close closes the database.
func (s *Store) Close() error {
	for _, st := range s.stmts {
		st.Close()
	}
	return s.db.Close()
}

// Path returns the database file name.
func (s *Store) Path() string { return s.path }

type migration struct {
	version int
	name    string
	sql     string
}

func migrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(e.Name(), ".sql") {
			return nil, fmt.Errorf("store: migration file %q is not named NNN_name.sql", e.Name())
		}
		b, err := migrationFiles.ReadFile(path.Join("migrations", e.Name()))
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("store: migrations must be numbered 1, 2, 3, …: %s is number %d", m.name, i+1)
		}
	}
	return ms, nil
}

// SchemaVersion is the schema version this binary writes.
func SchemaVersion() int {
	ms, err := migrations()
	if err != nil {
		return 0
	}
	return len(ms)
}

// migrate applies the migrations the database lacks, each in its own
// transaction together with the new PRAGMA user_version.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	var have int
	if err := s.db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&have); err != nil {
		return fmt.Errorf("store: reading the schema version of %s: %w", s.path, err)
	}
	if have == 0 {
		// A new database: freed pages can be given back to the file
		// system by PRAGMA incremental_vacuum (retention). It must be set
		// before the first table.
		if _, err := s.db.ExecContext(ctx, "PRAGMA auto_vacuum = INCREMENTAL"); err != nil {
			return fmt.Errorf("store: setting up %s: %w", s.path, err)
		}
	}
	if have > len(ms) {
		return fmt.Errorf("store: %s has schema version %d but this backstop knows only up to %d: it was written by a newer backstop; run that version (or restore a backup)", s.path, have, len(ms))
	}
	for _, m := range ms[have:] {
		err := s.tx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return err
			}
			// PRAGMA takes no parameters; the version is an integer we made.
			_, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", m.version))
			return err
		})
		if err != nil {
			return fmt.Errorf("store: applying migration %s to %s: %w", m.name, s.path, err)
		}
	}
	return nil
}

// tx runs f in one immediate transaction and commits it when f returns nil.
func (s *Store) tx(ctx context.Context, f func(tx *sql.Tx) error) error {
	tx, err := s.begin(ctx)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: committing: %w", err)
	}
	return nil
}

// begin starts a write transaction.
func (s *Store) begin(ctx context.Context) (*sql.Tx, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("store: beginning a transaction: %w", err)
	}
	// What an earlier transaction counted is stale now: another process
	// may have written since, and a new transaction may even reuse the
	// address of the old one.
	s.forgetIDs()
	// Another process (backstop rotate-key) may have made a new data key
	// current: seal under it from now on.
	if s.keys != nil && s.hasKeyTable {
		if err := s.loadKeys(ctx, tx); err != nil {
			tx.Rollback()
			return nil, err
		}
	}
	return tx, nil
}

// LastUID returns the highest UID recorded for mailbox under uidValidity, 0
// when none (also after a UIDVALIDITY change: the mailbox is then rescanned
// and messages are deduplicated by Message-ID). It implements the watcher's
// checkpoint.
func (s *Store) LastUID(ctx context.Context, mailbox string, uidValidity uint32) (uint32, error) {
	var uv, last int64
	err := s.db.QueryRowContext(ctx, "SELECT uidvalidity, last_uid FROM sync_state WHERE mailbox = ?", mailbox).Scan(&uv, &last)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("store: reading the checkpoint of %s: %w", mailbox, err)
	}
	if uint32(uv) != uidValidity {
		return 0, nil
	}
	return uint32(last), nil
}

// advance records that uid of mailbox was handled.
func advance(ctx context.Context, tx *sql.Tx, mailbox string, uidValidity, uid uint32, now time.Time) error {
	if uid == 0 {
		return nil
	}
	_, err := tx.ExecContext(ctx, `
		INSERT INTO sync_state (mailbox, uidvalidity, last_uid, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (mailbox) DO UPDATE SET
			last_uid = CASE WHEN uidvalidity = excluded.uidvalidity THEN max(last_uid, excluded.last_uid) ELSE excluded.last_uid END,
			uidvalidity = excluded.uidvalidity,
			updated_at = excluded.updated_at`,
		mailbox, int64(uidValidity), int64(uid), ms(now))
	if err != nil {
		return fmt.Errorf("store: advancing the checkpoint of %s: %w", mailbox, err)
	}
	return nil
}

// ms is how times are stored: Unix milliseconds.
func ms(t time.Time) int64 { return t.UnixMilli() }

// fromMS is the inverse of ms; NULL and 0 are the zero time.
func fromMS(v sql.NullInt64) time.Time {
	if !v.Valid || v.Int64 == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v.Int64)
}

func nullMS(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: ms(t), Valid: true}
}

func nullID(id int64) sql.NullInt64 {
	if id == 0 {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: id, Valid: true}
}
