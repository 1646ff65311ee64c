package workflow

import (
	"fmt"
	"strings"
)

// customer carries out CUSTOMER <address> [name]: it sets the incident's
// customer, which backstop could not identify in the report (or got
// wrong). Forwards are threaded by customer address, so later forwards
// about that customer join this incident.
func (r *cmdRun) customer() (outcome, error) {
	h := r.h
	p, ok := parseTarget(r.cmd.Args)
	if !ok {
		return refused("CUSTOMER needs the customer's address: CUSTOMER <address> [name]."), nil
	}
	addr := lower(p.Address)
	if h.d.isTeam(addr) {
		return refused("%s is on the team, and a teammate is never the customer of an incident. Give the customer's own address: CUSTOMER <address> [name].", p.Address), nil
	}
	old := r.inc.Customer
	if sameMailbox(old.Address, addr) && (p.Name == "" || p.Name == old.Name) {
		return done("%s is already the customer of %s.", customerWords(old), r.inc.Ref()), nil
	}
	name := p.Name
	if name == "" && old.Address == "" {
		name = old.Name // a name the forward showed without an address
	}
	org := organisationOf(addr, h.d.cfg.FreeMailDomains)
	if _, err := h.tx.ExecContext(h.ctx, `UPDATE incidents SET customer_address = ?, customer_name = ?, organisation = ?, updated_at = ? WHERE id = ?`,
		addr, name, org, ms(h.now), r.inc.ID); err != nil {
		return outcome{}, fmt.Errorf("setting the customer of %s: %w", r.inc.Ref(), err)
	}
	was := "unknown"
	if old.Address != "" || old.Name != "" {
		was = customerWords(old)
	}
	now := Person{Name: name, Address: addr}
	msg := fmt.Sprintf("the customer of %s is now %s (was %s). Later forwards about them join this incident.", r.inc.Ref(), customerWords(now), was)
	other, err := h.openIncidentOf(addr)
	if err != nil {
		return outcome{}, err
	}
	if other != nil && other.ID != r.inc.ID {
		msg += fmt.Sprintf(" %s is open for the same customer too; new forwards join the newer of the two.", other.Ref())
	}
	if inc, err := loadIncident(h.ctx, h.tx, r.inc.ID); err == nil {
		r.inc = inc
	} else {
		return outcome{}, err
	}
	return done("%s", sentence(msg)), nil
}

// customerWords names a customer: "Name <address>", the address, or the
// name alone.
func customerWords(p Person) string {
	switch {
	case p.Address == "":
		return strings.TrimSpace(p.Name + " (address unknown)")
	case p.Name == "":
		return p.Address
	}
	return p.Name + " <" + p.Address + ">"
}
