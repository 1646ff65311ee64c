package workflow

import (
	"context"
	"database/sql/driver"
	"strings"
	"sync"

	"modernc.org/sqlite"
)

// maxCachedStatements bounds the statements kept prepared per connection.
// The store's SQL is a fixed set of texts, far fewer; texts built at run
// time (IN lists of varying length) may fill the rest, and beyond it are
// prepared for each use as before.
const maxCachedStatements = 256

// cachingConnector opens connections that keep every statement they run
// prepared, keyed by its SQL text, and reuse it the next time the same
// text runs: the hot queries are parsed and planned once per connection,
// not once per call. Nothing changes for the callers, who go on passing
// SQL text to database/sql.
type cachingConnector struct {
	base driver.Connector
}

func newCachingConnector(dsn string) (driver.Connector, error) {
	base, err := sqlite.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	return &cachingConnector{base: base}, nil
}

func (c *cachingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.base.Connect(ctx)
	if err != nil {
		return nil, err
	}
	if _, ok := conn.(sqliteConn); !ok {
		return conn, nil // a driver without these methods: no cache
	}
	return &cachingConn{conn: conn, stmts: map[string]*cachedStmt{}}, nil
}

func (c *cachingConnector) Driver() driver.Driver { return c.base.Driver() }

// The interfaces the modernc connection implements and database/sql uses.
type sqliteConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

// cachingConn is a connection with a statement cache. database/sql uses a
// connection from one goroutine at a time, but a statement's rows may be
// open while other statements run (a query inside a rows loop), even the
// same text: a statement in use is not shared; that use gets its own.
type cachingConn struct {
	conn driver.Conn

	mu    sync.Mutex // guards stmts; rows may be closed from another goroutine
	stmts map[string]*cachedStmt
}

type cachedStmt struct {
	stmt driver.Stmt
	busy bool // its rows are open
}

func (c *cachingConn) inner() sqliteConn { return c.conn.(sqliteConn) }

// cacheable reports whether query is one statement: a script is prepared
// statement by statement by the driver and gains nothing from the cache.
func cacheable(query string) bool {
	q := strings.TrimRight(strings.TrimSpace(query), ";")
	return !strings.Contains(q, ";")
}

// acquire returns the cached statement for query, preparing it if needed,
// marked busy; release undoes that. ok is false when the statement is in
// use or cannot be cached: the caller then uses the connection directly.
func (c *cachingConn) acquire(ctx context.Context, query string) (cs *cachedStmt, ok bool, err error) {
	if !cacheable(query) {
		return nil, false, nil
	}
	c.mu.Lock()
	cs = c.stmts[query]
	if cs != nil {
		if cs.busy {
			c.mu.Unlock()
			return nil, false, nil
		}
		cs.busy = true
		c.mu.Unlock()
		return cs, true, nil
	}
	full := len(c.stmts) >= maxCachedStatements
	c.mu.Unlock()
	if full {
		return nil, false, nil
	}
	st, err := c.inner().PrepareContext(ctx, query)
	if err != nil {
		return nil, false, err
	}
	cs = &cachedStmt{stmt: st, busy: true}
	c.mu.Lock()
	c.stmts[query] = cs
	c.mu.Unlock()
	return cs, true, nil
}

func (c *cachingConn) release(cs *cachedStmt) {
	c.mu.Lock()
	cs.busy = false
	c.mu.Unlock()
}

// ExecContext implements driver.ExecerContext.
func (c *cachingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	cs, ok, err := c.acquire(ctx, query)
	if err != nil {
		return nil, err
	}
	if !ok {
		return c.inner().ExecContext(ctx, query, args)
	}
	defer c.release(cs)
	return cs.stmt.(driver.StmtExecContext).ExecContext(ctx, args)
}

// QueryContext implements driver.QueryerContext.
func (c *cachingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	cs, ok, err := c.acquire(ctx, query)
	if err != nil {
		return nil, err
	}
	if !ok {
		return c.inner().QueryContext(ctx, query, args)
	}
	rows, err := cs.stmt.(driver.StmtQueryContext).QueryContext(ctx, args)
	if err != nil {
		c.release(cs)
		return nil, err
	}
	return &cachedRows{Rows: rows, release: func() { c.release(cs) }}, nil
}

// cachedRows gives the statement back when the rows are closed. The driver
// resets (rather than finalises) a prepared statement's handle then.
type cachedRows struct {
	driver.Rows
	once    sync.Once
	release func()
}

func (r *cachedRows) Close() error {
	err := r.Rows.Close()
	r.once.Do(r.release)
	return err
}

// Close finalises the cached statements and closes the connection.
func (c *cachingConn) Close() error {
	c.mu.Lock()
	stmts := c.stmts
	c.stmts = map[string]*cachedStmt{}
	c.mu.Unlock()
	for _, cs := range stmts {
		cs.stmt.Close()
	}
	return c.conn.Close()
}

func (c *cachingConn) Prepare(query string) (driver.Stmt, error) { return c.conn.Prepare(query) }
func (c *cachingConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.inner().PrepareContext(ctx, query)
}
func (c *cachingConn) Begin() (driver.Tx, error) {
	return c.inner().BeginTx(context.Background(), driver.TxOptions{})
}
func (c *cachingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	return c.inner().BeginTx(ctx, opts)
}
func (c *cachingConn) Ping(ctx context.Context) error { return c.inner().Ping(ctx) }
func (c *cachingConn) ResetSession(ctx context.Context) error {
	return c.inner().ResetSession(ctx)
}
func (c *cachingConn) IsValid() bool { return c.inner().IsValid() }
