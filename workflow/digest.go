package workflow

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"backstop/templates"
)

// The weekly digest: one email per lead with the week's picture, built
// from ids, names, states, dates and counts only. Nothing a customer wrote
// (no quote, no subject, no attachment name) and nothing a teammate
// answered a check-in with ever reaches it.

// digestJobName is the digest's record in schedule_runs.
const digestJobName = "digest"

// openStates are the states of open incidents, in the order of the ladder.
var openStates = []string{StateReported, StateAcknowledged, StateBoundarySent, StateEscalated, StateSevered}

// digestActions are the actions the digest counts, by verb.
var digestActions = []struct{ verb, words string }{
	{CmdBoundary, "boundary emails"},
	{CmdEscalate, "escalations"},
	{CmdSever, "severances"},
	{CmdResolve, "resolutions"},
	{CmdApology, "apologies"},
}

// Weeks of history beside the digest's week.
const (
	responseWeeks = 4  // time to first action: the previous 4 weeks
	chartWeeks    = 12 // incidents per week: the last 12 weeks
	repeatDays    = 90 // repeat offenders: more than one incident in 90 days
	chartBarMax   = 40 // "#" in the longest text bar
	chartWidthMax = 240
)

// DigestPeriod returns the 7 days a digest due at due covers: midnight to
// midnight in loc, ending at the start of due's day.
func DigestPeriod(due time.Time, loc *time.Location) (start, end time.Time) {
	lt := due.In(loc)
	end = time.Date(lt.Year(), lt.Month(), lt.Day(), 0, 0, 0, 0, loc)
	start = time.Date(lt.Year(), lt.Month(), lt.Day()-7, 0, 0, 0, 0, loc)
	return start, end
}

// ParseWeek reads an ISO 8601 week, "2026-W40", and returns it as Monday
// midnight to the next Monday midnight in loc.
func ParseWeek(week string, loc *time.Location) (start, end time.Time, err error) {
	y, w, ok := strings.Cut(strings.ToUpper(strings.TrimSpace(week)), "-W")
	year, err1 := strconv.Atoi(y)
	n, err2 := strconv.Atoi(w)
	if !ok || err1 != nil || err2 != nil || year < 1970 || year > 9999 || n < 1 || n > 53 {
		return time.Time{}, time.Time{}, fmt.Errorf("%q is not an ISO week: write it like 2026-W40", week)
	}
	// 4 January is always in week 1.
	jan4 := time.Date(year, time.January, 4, 0, 0, 0, 0, loc)
	monday := jan4.Day() - (int(jan4.Weekday())+6)%7
	start = time.Date(year, time.January, monday+(n-1)*7, 0, 0, 0, 0, loc)
	if y2, w2 := start.ISOWeek(); y2 != year || w2 != n {
		return time.Time{}, time.Time{}, fmt.Errorf("%d has no week %d", year, n)
	}
	end = time.Date(year, time.January, monday+n*7, 0, 0, 0, 0, loc)
	return start, end, nil
}

func isoWeek(t time.Time) string {
	y, w := t.ISOWeek()
	return fmt.Sprintf("%d-W%02d", y, w)
}

// weekBefore returns [start, end) moved k weeks back in local days.
func weekBefore(start time.Time, k int) (time.Time, time.Time) {
	loc := start.Location()
	s := time.Date(start.Year(), start.Month(), start.Day()-7*k, 0, 0, 0, 0, loc)
	e := time.Date(start.Year(), start.Month(), start.Day()-7*k+7, 0, 0, 0, 0, loc)
	return s, e
}

// Age formats a duration for people: "45 min", "5 h 20 min", "3 days 4 h".
func Age(d time.Duration) string {
	d = d.Round(time.Minute)
	switch {
	case d < time.Minute:
		return "under a minute"
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d.Minutes()))
	case d < 48*time.Hour:
		h, m := int(d.Hours()), int(d.Minutes())%60
		if m == 0 {
			return fmt.Sprintf("%d h", h)
		}
		return fmt.Sprintf("%d h %d min", h, m)
	}
	days, h := int(d.Hours())/24, int(d.Hours())%24
	if h == 0 {
		return fmt.Sprintf("%d days", days)
	}
	return fmt.Sprintf("%d days %d h", days, h)
}

// leadArgs returns the leads' addresses as SQL arguments and placeholders.
func (d *Desk) leadArgs() ([]any, string) {
	var args []any
	for a := range d.leads {
		args = append(args, a)
	}
	slices.SortFunc(args, func(a, b any) int { return strings.Compare(a.(string), b.(string)) })
	return args, strings.TrimSuffix(strings.Repeat("?,", len(args)), ",")
}

// actedBy is the SQL condition "a lead carried out a command on incident
// i, or wrote a note or a reply about it": what acknowledges an incident
// and stops its reminders.
func (d *Desk) actedBy(alias string) (string, []any) {
	args, ph := d.leadArgs()
	return fmt.Sprintf("EXISTS (SELECT 1 FROM events e WHERE e.incident_id = %s.id AND e.kind IN ('%s', '%s') AND e.actor IN (%s))", alias, EventCommand, EventNote, ph), args
}

// buildDigest computes the digest of [start, end) as it stands at now.
func (d *Desk) buildDigest(ctx context.Context, q querier, start, end, now time.Time) (*templates.Digest, error) {
	loc := d.cfg.Timezone
	start, end = start.In(loc), end.In(loc)
	g := &templates.Digest{Week: isoWeek(start), Start: start, End: end}
	count := func(query string, args ...any) (int, error) {
		var n sql.NullInt64
		err := q.QueryRowContext(ctx, query, args...).Scan(&n)
		return int(n.Int64), err
	}
	closedArgs := []any{StateResolved, StateClosed}
	var err error
	row := q.QueryRowContext(ctx, `SELECT count(*), sum(state NOT IN (?, ?)) FROM incidents WHERE created_at >= ? AND created_at < ?`,
		StateResolved, StateClosed, ms(start), ms(end))
	var still sql.NullInt64
	if err = row.Scan(&g.Opened, &still); err != nil {
		return nil, fmt.Errorf("digest: counting incidents: %w", err)
	}
	g.OpenedStillOpen = int(still.Int64)

	byState := map[string]int{}
	rows, err := q.QueryContext(ctx, `SELECT state, count(*) FROM incidents WHERE state NOT IN (?, ?) GROUP BY state`, closedArgs...)
	if err != nil {
		return nil, fmt.Errorf("digest: counting open incidents: %w", err)
	}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			rows.Close()
			return nil, err
		}
		byState[st] = n
		g.Open += n
	}
	rows.Close()
	for _, st := range openStates {
		if byState[st] > 0 {
			g.OpenByState = append(g.OpenByState, templates.Count{Name: stateWords(st), N: byState[st]})
		}
	}

	if g.Waiting, err = d.waiting(ctx, q, now); err != nil {
		return nil, err
	}
	if g.Actions, err = d.actions(ctx, q, start, end); err != nil {
		return nil, err
	}
	for k := 0; k <= responseWeeks; k++ {
		s, e := weekBefore(start, k)
		r, err := d.response(ctx, q, s, e)
		if err != nil {
			return nil, err
		}
		g.Response = append(g.Response, r)
	}
	if g.Severed, err = d.severedIn(ctx, q, start, end); err != nil {
		return nil, err
	}
	if g.Repeat, err = d.repeats(ctx, q, end); err != nil {
		return nil, err
	}
	if g.Teammates, err = d.teammates(ctx, q, start, end); err != nil {
		return nil, err
	}
	if g.Undelivered, err = d.undelivered(ctx, q); err != nil {
		return nil, err
	}
	if g.HeldBack, err = count(`SELECT count(*) FROM events WHERE kind IN (?, ?) AND at >= ? AND at < ?`,
		EventMailSuppressed, EventNoticeHeldBack, ms(start), ms(end)); err != nil {
		return nil, fmt.Errorf("digest: counting held-back notices: %w", err)
	}
	most := 0
	for k := chartWeeks - 1; k >= 0; k-- {
		s, e := weekBefore(start, k)
		n, err := count(`SELECT count(*) FROM incidents WHERE created_at >= ? AND created_at < ?`, ms(s), ms(e))
		if err != nil {
			return nil, fmt.Errorf("digest: counting incidents per week: %w", err)
		}
		_, w := s.ISOWeek()
		g.Chart = append(g.Chart, templates.ChartWeek{Week: fmt.Sprintf("W%02d", w), Label: s.Format("2 Jan"), N: n})
		most = max(most, n)
	}
	for i := range g.Chart {
		c := &g.Chart[i]
		if c.N > 0 {
			bar := max(1, c.N*min(most, chartBarMax)/most)
			c.Bar = strings.Repeat("#", bar)
			c.Width = max(4, c.N*chartWidthMax/most)
		}
	}
	quiet := g.Opened == 0 && len(g.Waiting) == 0 && len(g.Severed) == 0 && len(g.Undelivered) == 0 && g.HeldBack == 0
	for _, a := range g.Actions {
		quiet = quiet && a.N == 0
	}
	g.Quiet = quiet
	return g, nil
}

// waiting lists the open incidents no lead has acted on, oldest first.
func (d *Desk) waiting(ctx context.Context, q querier, now time.Time) ([]templates.Waiting, error) {
	acted, args := d.actedBy("i")
	rows, err := q.QueryContext(ctx, `SELECT i.id, i.state, i.customer_name, i.customer_address, i.created_at FROM incidents i
		WHERE i.state IN (?, ?, ?, ?, ?) AND i.created_at <= ? AND NOT `+acted+` ORDER BY i.created_at, i.id`,
		append([]any{StateReported, StateAcknowledged, StateBoundarySent, StateEscalated, StateSevered, ms(now)}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("digest: listing incidents waiting on a lead: %w", err)
	}
	defer rows.Close()
	var out []templates.Waiting
	for rows.Next() {
		var id, created int64
		var st, name, addr string
		if err := rows.Scan(&id, &st, &name, &addr, &created); err != nil {
			return nil, err
		}
		at := time.UnixMilli(created).In(d.cfg.Timezone)
		out = append(out, templates.Waiting{ID: Ref(id), State: st, Customer: nameOf(Person{Name: name, Address: addr}),
			Opened: at, Age: Age(now.Sub(at))})
	}
	return out, rows.Err()
}

// verbOfDetail returns the canonical verb of a command event ("LINE: what
// happened"), "" when the line does not start with one.
func verbOfDetail(detail string) string {
	w, _, _ := strings.Cut(strings.TrimSpace(detail), " ")
	w = strings.TrimRight(strings.Trim(w, "*_"), ":.!,;")
	v, _ := lookupVerb(w)
	return v
}

// actions counts the leads' actions of [start, end).
func (d *Desk) actions(ctx context.Context, q querier, start, end time.Time) ([]templates.Count, error) {
	args, ph := d.leadArgs()
	rows, err := q.QueryContext(ctx, `SELECT id, detail FROM events WHERE kind = ? AND at >= ? AND at < ? AND actor IN (`+ph+`)`,
		append([]any{EventCommand, ms(start), ms(end)}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("digest: counting actions: %w", err)
	}
	defer rows.Close()
	n := map[string]int{}
	for rows.Next() {
		var id int64
		var sealed []byte
		if err := rows.Scan(&id, &sealed); err != nil {
			return nil, err
		}
		// Only the command word is read: the digest carries no content.
		detail, err := d.st.openString("events", "detail", id, sealed)
		if err != nil {
			return nil, err
		}
		v := verbOfDetail(detail)
		if v == CmdClose {
			v = CmdResolve
		}
		n[v]++
	}
	var out []templates.Count
	for _, a := range digestActions {
		out = append(out, templates.Count{Name: a.words, N: n[a.verb]})
	}
	return out, rows.Err()
}

// response is the time from report to first lead action for the incidents
// opened in [start, end).
func (d *Desk) response(ctx context.Context, q querier, start, end time.Time) (templates.Response, error) {
	r := templates.Response{Week: isoWeek(start)}
	args, ph := d.leadArgs()
	rows, err := q.QueryContext(ctx, `SELECT i.created_at, (SELECT min(e.at) FROM events e WHERE e.incident_id = i.id AND e.kind IN (?, ?) AND e.actor IN (`+ph+`))
		FROM incidents i WHERE i.created_at >= ? AND i.created_at < ?`,
		append(append([]any{EventCommand, EventNote}, args...), ms(start), ms(end))...)
	if err != nil {
		return r, fmt.Errorf("digest: measuring response times: %w", err)
	}
	defer rows.Close()
	var times []time.Duration
	for rows.Next() {
		var created int64
		var first sql.NullInt64
		if err := rows.Scan(&created, &first); err != nil {
			return r, err
		}
		r.Incidents++
		if first.Valid {
			times = append(times, time.Duration(first.Int64-created)*time.Millisecond)
		}
	}
	if err := rows.Err(); err != nil {
		return r, err
	}
	r.Acted = len(times)
	if len(times) > 0 {
		slices.Sort(times)
		med := times[len(times)/2]
		if len(times)%2 == 0 {
			med = (times[len(times)/2-1] + times[len(times)/2]) / 2
		}
		r.Median, r.Worst = Age(med), Age(times[len(times)-1])
	}
	return r, nil
}

// severedIn lists the customers severed in [start, end).
func (d *Desk) severedIn(ctx context.Context, q querier, start, end time.Time) ([]templates.Severed, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, customer_name, customer_address, organisation, severed_at FROM incidents
		WHERE severed_at >= ? AND severed_at < ? ORDER BY severed_at, id`, ms(start), ms(end))
	if err != nil {
		return nil, fmt.Errorf("digest: listing severed customers: %w", err)
	}
	defer rows.Close()
	var out []templates.Severed
	for rows.Next() {
		var id, at int64
		var name, addr, org string
		if err := rows.Scan(&id, &name, &addr, &org, &at); err != nil {
			return nil, err
		}
		out = append(out, templates.Severed{ID: Ref(id), Customer: nameOf(Person{Name: name, Address: addr}), Organisation: org,
			At: time.UnixMilli(at).In(d.cfg.Timezone)})
	}
	return out, rows.Err()
}

// repeats lists customers, and organisations with more than one customer,
// that had more than one incident in the repeatDays before end; most
// incidents first.
func (d *Desk) repeats(ctx context.Context, q querier, end time.Time) ([]templates.Repeat, error) {
	from := time.Date(end.Year(), end.Month(), end.Day()-repeatDays, 0, 0, 0, 0, end.Location())
	type group struct {
		who       string
		ids       []int64
		customers map[string]bool
	}
	rows, err := q.QueryContext(ctx, `SELECT id, customer_address, customer_name, organisation FROM incidents
		WHERE created_at >= ? AND created_at < ? ORDER BY id`, ms(from), ms(end))
	if err != nil {
		return nil, fmt.Errorf("digest: finding repeat offenders: %w", err)
	}
	byCustomer, byOrg := map[string]*group{}, map[string]*group{}
	var customers, orgs []*group
	add := func(m map[string]*group, list *[]*group, key, who, addr string, id int64) {
		g := m[key]
		if g == nil {
			g = &group{who: who, customers: map[string]bool{}}
			m[key] = g
			*list = append(*list, g)
		}
		g.ids = append(g.ids, id)
		g.customers[addr] = true
	}
	for rows.Next() {
		var id int64
		var addr, name, org string
		if err := rows.Scan(&id, &addr, &name, &org); err != nil {
			rows.Close()
			return nil, err
		}
		if addr != "" {
			add(byCustomer, &customers, addr, nameOf(Person{Name: name, Address: addr}), addr, id)
		}
		if org != "" {
			add(byOrg, &orgs, org, org, addr, id)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	customers = slices.DeleteFunc(customers, func(g *group) bool { return len(g.ids) < 2 })
	for _, o := range orgs {
		if len(o.customers) > 1 { // one customer's incidents are listed under the customer
			customers = append(customers, o)
		}
	}
	sort.SliceStable(customers, func(i, j int) bool { return len(customers[i].ids) > len(customers[j].ids) })
	var out []templates.Repeat
	for _, g := range customers {
		r := templates.Repeat{Who: g.who}
		for _, id := range g.ids {
			r.Incidents = append(r.Incidents, Ref(id))
		}
		out = append(out, r)
	}
	return out, nil
}

// teammates lists who reported or added to an incident in [start, end).
func (d *Desk) teammates(ctx context.Context, q querier, start, end time.Time) ([]string, error) {
	rows, err := q.QueryContext(ctx, `
		SELECT reporter_address, reporter_name, created_at FROM incidents WHERE created_at >= ? AND created_at < ?
		UNION ALL
		SELECT from_address, '', received_at FROM messages WHERE class = ? AND received_at >= ? AND received_at < ?
		ORDER BY 3`, ms(start), ms(end), ClassForward, ms(start), ms(end))
	if err != nil {
		return nil, fmt.Errorf("digest: listing the teammates affected: %w", err)
	}
	defer rows.Close()
	names := map[string]string{}
	var order []string
	for rows.Next() {
		var addr, name string
		var at int64
		if err := rows.Scan(&addr, &name, &at); err != nil {
			return nil, err
		}
		addr = lower(addr)
		if addr == "" {
			continue
		}
		if _, ok := names[addr]; !ok {
			order = append(order, addr)
		}
		if names[addr] == "" {
			names[addr] = name
		}
	}
	var out []string
	for _, a := range order {
		out = append(out, nameOf(Person{Name: names[a], Address: a}))
	}
	return out, rows.Err()
}

// undelivered lists customer emails of open incidents whose delivery is
// uncertain or failed: a lead must decide whether to RESEND.
func (d *Desk) undelivered(ctx context.Context, q querier) ([]templates.Undelivered, error) {
	rows, err := q.QueryContext(ctx, `SELECT o.incident_id, o.template, o.recipient, i.customer_address, i.customer_name, o.state,
			coalesce(o.sent_at, o.not_before, o.created_at)
		FROM outbox o JOIN incidents i ON i.id = o.incident_id
		WHERE o.customer = 1 AND o.state IN (?, ?, ?) AND i.state NOT IN (?, ?) ORDER BY o.id`,
		OutUncertain, OutFailed, OutBounced, StateResolved, StateClosed)
	if err != nil {
		return nil, fmt.Errorf("digest: listing undelivered customer emails: %w", err)
	}
	defer rows.Close()
	var out []templates.Undelivered
	for rows.Next() {
		var id, since int64
		var tmpl, rcpt, custAddr, custName, st string
		if err := rows.Scan(&id, &tmpl, &rcpt, &custAddr, &custName, &st, &since); err != nil {
			return nil, err
		}
		to := rcpt
		if rcpt == custAddr && custName != "" {
			to = custName
		}
		out = append(out, templates.Undelivered{ID: Ref(id), Kind: tmpl, To: to, State: st, Since: time.UnixMilli(since).In(d.cfg.Timezone)})
	}
	return out, rows.Err()
}

// digestRecipients are the leads who get the digest: the configured ones
// (default every lead) who have not replied DIGEST OFF.
func (d *Desk) digestRecipients(ctx context.Context, q querier) ([]Person, error) {
	list := d.cfg.Time.DigestRecipients
	if len(list) == 0 {
		list = d.cfg.Leads
	}
	var out []Person
	for _, p := range list {
		var one int
		err := q.QueryRowContext(ctx, "SELECT 1 FROM digest_optout WHERE address = ?", lower(p.Address)).Scan(&one)
		if err == nil {
			continue
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("digest: reading DIGEST OFF: %w", err)
		}
		if l, ok := d.leads[lower(p.Address)]; ok && p.Name == "" {
			p = l
		}
		out = append(out, Person{Name: p.Name, Address: strings.TrimSpace(p.Address)})
	}
	return out, nil
}

// queueDigest renders the digest of [start, end) and queues it to each
// recipient, inside tx.
func (d *Desk) queueDigest(ctx context.Context, tx *sql.Tx, start, end, now time.Time) ([]int64, error) {
	g, err := d.buildDigest(ctx, tx, start, end, now)
	if err != nil {
		return nil, err
	}
	to, err := d.digestRecipients(ctx, tx)
	if err != nil {
		return nil, err
	}
	var ids []int64
	for _, lead := range to {
		data := d.baseData(nil, lead, now)
		data.Digest = g
		id, err := d.queueMail(ctx, tx, now, outItem{template: templates.WeeklyDigest, to: lead, data: data, scheduled: true}, nil)
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// DigestJob is the scheduler job of the weekly digest (Config.Time.Digest).
func (d *Desk) DigestJob() Job {
	return Job{
		Name:     digestJobName,
		Schedule: *d.cfg.Time.Digest,
		Run: func(ctx context.Context, tx *sql.Tx, due time.Time) error {
			start, end := DigestPeriod(due, d.cfg.Timezone)
			ids, err := d.queueDigest(ctx, tx, start, end, d.now())
			if err == nil {
				d.log.Info("weekly digest queued", "week", isoWeek(start), "recipients", len(ids))
			}
			return err
		},
	}
}

// NextDigestPeriod is the period the next digest after now will cover.
func (d *Desk) NextDigestPeriod(now time.Time) (start, end time.Time) {
	return DigestPeriod(d.cfg.Time.Digest.Next(now), d.cfg.Timezone)
}

// PreviewDigest returns the digest of [start, end) exactly as it would be
// sent now to each recipient, without sending it: it is queued in a
// transaction that is rolled back.
func (d *Desk) PreviewDigest(ctx context.Context, start, end time.Time) ([]*OutMail, error) {
	tx, err := d.st.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	ids, err := d.queueDigest(ctx, tx, start, end, d.now())
	if err != nil {
		return nil, err
	}
	var out []*OutMail
	for _, id := range ids {
		o, err := d.st.loadOutRow(ctx, tx, id)
		if err != nil {
			return nil, err
		}
		m, err := o.outMail(ctx, d.st, tx)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// IncidentFilter selects incidents for the operator's list (`backstop
// incidents -state -since -waiting`), with the digest's definitions.
type IncidentFilter struct {
	States  []string  // any of these states; "open" stands for every open state; nil = all
	Since   time.Time // opened at or after; zero = any time
	Waiting bool      // only open incidents no lead has acted on yet, oldest first
	Leads   []string  // the leads' addresses: what "a lead acted" means for Waiting
}

// FindIncidents lists the incidents f selects, newest first (oldest first
// with Waiting, as the digest lists them).
func (s *Store) FindIncidents(ctx context.Context, f IncidentFilter) ([]Incident, error) {
	var where []string
	var args []any
	if len(f.States) > 0 {
		var states []any
		for _, st := range f.States {
			if st == "open" {
				for _, o := range openStates {
					states = append(states, o)
				}
				continue
			}
			states = append(states, st)
		}
		where = append(where, "i.state IN ("+strings.TrimSuffix(strings.Repeat("?,", len(states)), ",")+")")
		args = append(args, states...)
	}
	if !f.Since.IsZero() {
		where = append(where, "i.created_at >= ?")
		args = append(args, ms(f.Since))
	}
	order := "i.id DESC"
	if f.Waiting {
		if len(f.Leads) == 0 {
			return nil, errors.New("store: listing incidents waiting on a lead needs the leads' addresses")
		}
		where = append(where, "i.state NOT IN (?, ?)", `NOT EXISTS (SELECT 1 FROM events e WHERE e.incident_id = i.id AND e.kind IN (?, ?)
			AND e.actor IN (`+strings.TrimSuffix(strings.Repeat("?,", len(f.Leads)), ",")+`))`)
		args = append(args, StateResolved, StateClosed, EventCommand, EventNote)
		for _, l := range f.Leads {
			args = append(args, lower(l))
		}
		order = "i.created_at, i.id"
	}
	q := "SELECT " + incidentColumns + " FROM incidents i"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	rows, err := s.db.QueryContext(ctx, q+" ORDER BY "+order, args...)
	if err != nil {
		return nil, fmt.Errorf("store: listing incidents: %w", err)
	}
	defer rows.Close()
	var out []Incident
	for rows.Next() {
		in, err := scanIncident(s, rows)
		if err != nil {
			return nil, fmt.Errorf("store: listing incidents: %w", err)
		}
		out = append(out, *in)
	}
	return out, rows.Err()
}

// States lists every incident state, open ones first in the order of the
// ladder.
func States() []string { return append(slices.Clone(openStates), StateResolved, StateClosed) }
