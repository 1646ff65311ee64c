package templates

import "time"

// sampleZone stands in for Europe/Berlin in winter without needing the
// system's time zone database.
var sampleZone = time.FixedZone("CET", 60*60)

func at(day, hour, minute int) time.Time {
	return time.Date(2025, time.January, day, hour, minute, 0, 0, sampleZone)
}

// Sample returns realistic data for previews and validation: incident
// INC-7 at Acme Support, where Sam Rivera reported three messages from
// Jordan Miles of Globex, seen by lead Jane Doe. Evidence bodies are set
// (Render passes them on only where they may be shown). Each call returns
// fresh data that the caller may change.
func Sample() *Data {
	jordan := Person{Name: "Jordan Miles", Address: "jordan.miles@globex.example"}
	jane := Person{Name: "Jane Doe", Address: "jane.doe@acme.example"}
	return &Data{
		Org: Org{Name: "Acme Support", SupportAddress: "support@acme.example", Timezone: sampleZone},
		Incident: Incident{
			ID:           "INC-7",
			State:        "reported",
			Subject:      "Invoice 4471",
			Created:      at(8, 16, 52),
			MessageCount: 3,
			FirstDate:    at(6, 9, 14),
			LastDate:     at(8, 16, 40),
			Evidence: []Evidence{
				{From: jordan, Date: at(6, 9, 14), DateRaw: "Mon, 6 Jan 2025 09:14:03 +0100", Subject: "Invoice 4471",
					Body: "(Sample message 1. In a real notice, the customer's words appear here.)"},
				{From: jordan, Date: at(7, 11, 2), DateRaw: "Tue, 7 Jan 2025 11:02:47 +0100", Subject: "Re: Invoice 4471",
					Body: "(Sample message 2. In a real notice, the customer's words appear here.)"},
				{From: jordan, Date: at(8, 16, 40), DateRaw: "Wed, 8 Jan 2025 16:40:12 +0100", Subject: "Re: Invoice 4471",
					Body: "(Sample message 3. In a real notice, the customer's words appear here.)"},
			},
		},
		Customer:     jordan,
		Organisation: "Globex",
		Reporter:     Person{Name: "Sam Rivera", Address: "sam.rivera@acme.example"},
		Lead:         jane,
		Recipient:    jane,
		History: []string{
			"INC-3, Tue 12 Nov 2024: Jordan Miles; boundary sent, apology received, resolved",
			"INC-5, Mon 2 Dec 2024: Alex Chen (Globex); resolved without action",
		},
		Now:          at(8, 17, 5),
		EvidenceMode: "attach",
		Command:      "BOUNDARY",
		Outcome:      "done",
		Detail:       "The boundary email to Jordan Miles goes out on Wed 8 Jan 2025 17:15 CET. Reply CANCEL before then to stop it.",
		Preview: &Rendered{
			Subject: "Re: Invoice 4471",
			Text: "Dear Jordan Miles,\n\n" +
				"I'm writing about your recent messages to our support team.\n" +
				"(Sample preview: the exact email appears here.)\n\n" +
				"Kind regards,\n\nJane Doe\nAcme Support\n",
			HTML: "<p>Dear Jordan Miles,</p><p>(Sample preview: the exact email appears here.)</p>",
		},
		EmailKind: Boundary,
		SendAt:    at(8, 17, 15),
		Target:    Person{Name: "Pat Lee", Address: "pat.lee@globex.example"},
		Note:      "Spoke to Globex's account manager; they know about this.",
		Reason:    "the message could not be read as email (malformed MIME structure)",

		MessageFrom: "sam.rivera@acme.example",
		MessageSubj: "Fwd: Invoice 4471",
		EmailTo:     jordan,
	}
}

// SampleFor returns Sample data adjusted to read naturally for the
// template name: the reporter acknowledgement is addressed to the
// reporter, the escalation follows a boundary email, and so on.
func SampleFor(name string) *Data {
	d := Sample()
	switch name {
	case ReporterAck:
		d.Recipient = d.Reporter
		d.Lead = Person{}
	case EvidenceAdded:
		d.Incident.State = "boundary_sent"
		d.BoundarySent = at(9, 10, 30)
		d.Incident.MessageCount = 4
		d.Incident.LastDate = at(9, 14, 3)
		d.Incident.Evidence = append(d.Incident.Evidence, Evidence{
			From: d.Customer, Date: at(9, 14, 3), DateRaw: "Thu, 9 Jan 2025 14:03:55 +0100", Subject: "Re: Invoice 4471",
			Body: "(Sample message 4. In a real notice, the customer's words appear here.)"})
		d.Now = at(9, 14, 10)
	case HeldBack:
		d.Incident = Incident{}
		d.Customer, d.Organisation, d.History = Person{}, "", nil
		d.Detail = "12 more notices held back in the last hour: INC-40…INC-51"
	case QuarantineNotice:
		d.Incident = Incident{}
		d.Customer, d.Organisation, d.History = Person{}, "", nil
	case CommandResult:
		d.Incident.State = "acknowledged"
		d.Note = ""
	case CustomerPreview:
		d.Incident.State = "acknowledged"
	case UncertainDelivery:
		d.Incident.State = "boundary_sent"
		d.Reason = "the connection to the mail server broke before it confirmed the message"
	case DeliveryFailed:
		d.Incident.State = "escalated"
		d.EmailKind = Escalation
		d.EmailTo = d.Target
		d.SendAt = at(10, 9, 0)
		d.Reason = "smtp.acme.example answered: 550 5.1.1 <pat.lee@globex.example>: mailbox unavailable"
	case SecurityNotice:
		d.Command = "SEVER"
		d.MessageFrom = "jane.doe@acme.example"
		d.MessageSubj = "Re: [INC-7] New incident: Jordan Miles (Globex), 3 messages"
		d.Reason = "the reply did not answer an email backstop sent to that address, and the domain check (DMARC) did not pass"
	case ReporterOutcome:
		d.Recipient = d.Reporter
		d.Incident.State = "resolved"
		d.Command = "RESOLVE"
		d.Note = ""
	case WeeklyDigest:
		d.Incident, d.Customer, d.Organisation, d.Reporter, d.History = Incident{}, Person{}, "", Person{}, nil
		d.Now = at(13, 9, 0)
		d.Digest = sampleDigest()
	case LeadReminder:
		d.Now = at(9, 12, 52)
		d.Reminder = &Reminder{Waited: "4 h", N: 1, BusinessHours: "Mon–Fri 09:00–17:00 CET"}
	case Checkin:
		d.Recipient = d.Reporter
		d.Incident.State = "resolved"
		d.Now = at(14, 9, 0)
	case CheckinReply:
		d.Incident.State = "resolved"
		d.MessageFrom = "Sam Rivera <sam.rivera@acme.example>"
		d.Note = "Thanks for asking. I'm fine now, it helped to know you had it."
		d.Now = at(14, 10, 12)
	case Boundary:
		d.Recipient = d.Customer
	case Escalation:
		d.Recipient = d.Target
		d.Incident.State = "boundary_sent"
		d.BoundarySent = at(9, 10, 30)
		d.Now = at(13, 11, 0)
	case PartingWays:
		d.Recipient = d.Customer
		d.Incident.State = "escalated"
		d.BoundarySent = at(9, 10, 30)
		d.Now = at(15, 15, 20)
	}
	return d
}
