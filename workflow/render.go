package workflow

import (
	"fmt"

	"backstop/templates"
)

// pendingRender is an email being rendered on a goroutine of its own while
// the handler records what comes before it in the same transaction:
// rendering is the largest part of a new incident's work that needs no
// database, and the machine's other core can do it meanwhile.
type pendingRender struct {
	done chan struct{}
	r    *templates.Rendered
	err  error
}

// renderAhead starts rendering template with data. data must not change
// until wait returned.
func (d *Desk) renderAhead(template string, data *templates.Data) *pendingRender {
	p := &pendingRender{done: make(chan struct{})}
	go func() {
		defer close(p.done)
		defer func() {
			// A panic here would end the process; on the handler's
			// goroutine it rolls back the message. Make it an error.
			if v := recover(); v != nil {
				p.r, p.err = nil, fmt.Errorf("rendering %s panicked: %v", template, v)
			}
		}()
		p.r, p.err = d.tmpl.Render(template, data)
	}()
	return p
}

// wait returns the rendering.
func (p *pendingRender) wait() (*templates.Rendered, error) {
	<-p.done
	return p.r, p.err
}
