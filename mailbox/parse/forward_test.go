package parse

import (
	"strings"
	"testing"
)

// mailWith builds a message around a body.
func mailWith(subject, contentType, body string, extra ...string) string {
	var b strings.Builder
	b.WriteString("From: Teammate <mate@corp.example>\r\nTo: escalations@corp.example\r\n")
	b.WriteString("Date: Mon, 6 Jan 2025 11:00:00 +0100\r\nMessage-ID: <fwd@corp.example>\r\n")
	b.WriteString("Subject: " + subject + "\r\n")
	for _, e := range extra {
		b.WriteString(e + "\r\n")
	}
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: " + contentType + "\r\n\r\n")
	b.WriteString(strings.ReplaceAll(body, "\n", "\r\n"))
	return b.String()
}

type wantOrig struct {
	name, addr string
	date       string // RFC 3339, "" = don't check, "null" = must be nil
	bodyHas    string
}

func checkOriginals(t *testing.T, m *Message, want []wantOrig) {
	t.Helper()
	if len(m.Originals) != len(want) {
		for i, o := range m.Originals {
			t.Logf("original %d: %+v", i, o)
		}
		t.Fatalf("got %d originals, want %d", len(m.Originals), len(want))
	}
	for i, w := range want {
		o := m.Originals[i]
		if o.From.Name != w.name || o.From.Address != w.addr {
			t.Errorf("original %d from = %q <%s>, want %q <%s>", i, o.From.Name, o.From.Address, w.name, w.addr)
		}
		switch {
		case w.date == "null":
			if o.Date != nil {
				t.Errorf("original %d date = %v, want null (raw %q)", i, o.Date, o.DateRaw)
			}
		case w.date != "":
			if o.Date == nil {
				t.Errorf("original %d date = null (raw %q), want %s", i, o.DateRaw, w.date)
			} else if got := o.Date.Format("2006-01-02T15:04:05Z07:00"); got != w.date {
				t.Errorf("original %d date = %s (raw %q), want %s", i, got, o.DateRaw, w.date)
			}
		}
		if w.bodyHas != "" && !strings.Contains(o.Body, w.bodyHas) {
			t.Errorf("original %d body = %q, want it to contain %q", i, o.Body, w.bodyHas)
		}
		if o.DateRaw == "" && w.date != "null" && w.date != "" {
			t.Errorf("original %d has no date_raw", i)
		}
	}
}

func TestForwardClients(t *testing.T) {
	const plain = "text/plain; charset=utf-8"
	const html = "text/html; charset=utf-8"
	tests := []struct {
		name, subject, ctype, body string
		note                       string // expected note ("" = empty)
		want                       []wantOrig
	}{
		{"gmail en", "Fwd: hi", plain, `Look at this.

---------- Forwarded message ---------
From: John Doe <john@example.com>
Date: Mon, Jan 6, 2025 at 9:14 AM
Subject: hi
To: <mate@corp.example>

You people are useless.
`, "Look at this.", []wantOrig{{"John Doe", "john@example.com", "2025-01-06T09:14:00+01:00", "useless"}}},

		{"gmail bold labels", "Fwd: hi", plain, `---------- Forwarded message ---------
*From:* John Doe <john@example.com>
*Date:* Mon, Jan 6, 2025 at 9:14 AM
*Subject:* hi
*To:* <mate@corp.example>

Body.
`, "", []wantOrig{{"John Doe", "john@example.com", "2025-01-06T09:14:00+01:00", "Body."}}},

		{"outlook desktop en", "FW: complaint", plain, `Please handle.

Thanks,
Mate

From: Doe, John <john@example.com>
Sent: Monday, January 6, 2025 9:14 AM
To: Mate <mate@corp.example>; Other <other@corp.example>
Cc: boss@corp.example
Subject: complaint

This is the worst service.
`, "Please handle.\n\nThanks,\nMate", []wantOrig{{"Doe, John", "john@example.com", "2025-01-06T09:14:00+01:00", "worst"}}},

		{"outlook mailto", "FW: x", plain, `________________________________
From: John Doe [mailto:john@example.com]
Sent: Monday, January 6, 2025 9:14 AM
To: Mate
Subject: x

Body
`, "", []wantOrig{{"John Doe", "john@example.com", "2025-01-06T09:14:00+01:00", "Body"}}},

		{"original message family", "FW: x", plain, `fyi

-----Original Message-----
From: "john@example.com" <john@example.com>
Sent: Monday, January 06, 2025 9:14 AM
To: mate@corp.example
Subject: x

Body
`, "fyi", []wantOrig{{"", "john@example.com", "2025-01-06T09:14:00+01:00", "Body"}}},

		{"outlook de", "WG: Beschwerde", plain, `Von: Max Mustermann <max@kunde.example>
Gesendet: Montag, 6. Januar 2025 09:14
An: Mate <mate@corp.example>
Betreff: Beschwerde

Unverschämt.
`, "", []wantOrig{{"Max Mustermann", "max@kunde.example", "2025-01-06T09:14:00+01:00", "Unverschämt"}}},

		{"outlook fr nbsp", "TR: plainte", plain, "De\u00a0: Jean Dupont <jean@client.example>\nEnvoyé\u00a0: lundi 6 janvier 2025 09:14\nÀ\u00a0: Mate <mate@corp.example>\nObjet\u00a0: plainte\n\nInacceptable.\n",
			"", []wantOrig{{"Jean Dupont", "jean@client.example", "2025-01-06T09:14:00+01:00", "Inacceptable"}}},

		{"apple mail en", "Fwd: hi", plain, `Sent along.

Begin forwarded message:

From: John Doe <john@example.com>
Subject: hi
Date: January 6, 2025 at 9:14:00 AM GMT+1
To: Mate <mate@corp.example>

Body text.
`, "Sent along.", []wantOrig{{"John Doe", "john@example.com", "2025-01-06T09:14:00+01:00", "Body text."}}},

		{"apple mail de", "Fwd: hi", plain, `Anfang der weitergeleiteten Nachricht:

Von: Max Mustermann <max@kunde.example>
Betreff: hi
Datum: 6. Januar 2025 um 09:14:00 MEZ
An: Mate <mate@corp.example>

Text.
`, "", []wantOrig{{"Max Mustermann", "max@kunde.example", "2025-01-06T09:14:00+01:00", "Text."}}},

		{"apple mail fr", "Fwd: hi", plain, "Début du message réexpédié :\n\nDe: Jean Dupont <jean@client.example>\nObjet: hi\nDate: 6 janvier 2025 à 09:14:00 UTC+1\nÀ: Mate <mate@corp.example>\n\nTexte.\n",
			"", []wantOrig{{"Jean Dupont", "jean@client.example", "2025-01-06T09:14:00+01:00", "Texte."}}},

		{"thunderbird", "Fwd: hi", plain, "\n\n\n-------- Forwarded Message --------\nSubject: \thi\nDate: \tMon, 6 Jan 2025 09:14:00 +0100\nFrom: \tJohn Doe <john@example.com>\nTo: \tmate@corp.example\n\n\n\nBody.\n",
			"", []wantOrig{{"John Doe", "john@example.com", "2025-01-06T09:14:00+01:00", "Body."}}},

		{"yahoo", "Fwd: hi", plain, `  ----- Forwarded Message -----
From: John Doe <john@example.com>
To: Mate <mate@corp.example>
Sent: Monday, January 6, 2025, 09:14:00 AM GMT+1
Subject: hi

Body.
`, "", []wantOrig{{"John Doe", "john@example.com", "2025-01-06T09:14:00+01:00", "Body."}}},

		{"proton", "Fwd: hi", plain, `------- Forwarded Message -------
From: John Doe <john@example.com>
Date: On Monday, January 6th, 2025 at 9:14 AM
Subject: hi
To: mate@corp.example <mate@corp.example>


> Body.
`, "", []wantOrig{{"John Doe", "john@example.com", "2025-01-06T09:14:00+01:00", "Body."}}},

		{"zoho", "Fwd: hi", plain, `============ Forwarded message ============
From: John Doe <john@example.com>
To: <mate@corp.example>
Date: Mon, 06 Jan 2025 09:14:00 +0100
Subject: hi
============ Forwarded message ============

Body.
`, "", []wantOrig{{"John Doe", "john@example.com", "2025-01-06T09:14:00+01:00", "Body."}}},

		{"mutt", "Fwd: hi", plain, `my note

----- Forwarded message from John Doe <john@example.com> -----

Date: Mon, 6 Jan 2025 09:14:00 +0100
From: John Doe <john@example.com>
To: mate@corp.example
Subject: hi

Body.

----- End forwarded message -----
`, "my note", []wantOrig{{"John Doe", "john@example.com", "2025-01-06T09:14:00+01:00", "Body."}}},

		{"unknown label inside block", "FW: x", plain, `From: John Doe <john@example.com>
Sent by: Support Robot
Date: Mon, 6 Jan 2025 09:14:00 +0100
To: mate@corp.example
Subject: x

Body
`, "", []wantOrig{{"John Doe", "john@example.com", "2025-01-06T09:14:00+01:00", "Body"}}},

		{"exchange link artifacts", "FW: x", plain, `From: Gary Pratt <gpratt@umbrella.example<mailto:gpratt@umbrella.example>>
Sent: Monday, January 6, 2025 9:14 AM
To: Sam Carter <sam@acme.example<mailto:sam@acme.example>>
Subject: x

Body
`, "", []wantOrig{{"Gary Pratt", "gpratt@umbrella.example", "2025-01-06T09:14:00+01:00", "Body"}}},

		{"mutt end marker then signature", "Fwd: x", plain, `note

----- Forwarded message from John Doe <john@example.com> -----

Date: Mon, 6 Jan 2025 09:14:00 +0100
From: John Doe <john@example.com>
Subject: x

Body.

On Sun, Jan 05, 2025 at 08:00:00PM +0100, Mate wrote:
> earlier

----- End forwarded message -----

-- 
Mate
`, "note", []wantOrig{{"John Doe", "john@example.com", "2025-01-06T09:14:00+01:00", "Body."}, {"Mate", "", "2025-01-05T20:00:00+01:00", "earlier"}}},

		{"es outlook", "RV: queja", plain, `De: Juan Pérez <juan@cliente.example>
Enviado el: lunes, 6 de enero de 2025 9:14
Para: Mate <mate@corp.example>
Asunto: queja

Texto.
`, "", []wantOrig{{"Juan Pérez", "juan@cliente.example", "2025-01-06T09:14:00+01:00", "Texto."}}},

		{"it gmail", "I: reclamo", plain, `---------- Forwarded message ---------
Da: Mario Rossi <mario@cliente.example>
Date: lun 6 gen 2025 alle ore 09:14
Subject: reclamo
To: <mate@corp.example>

Testo.
`, "", []wantOrig{{"Mario Rossi", "mario@cliente.example", "2025-01-06T09:14:00+01:00", "Testo."}}},

		{"pt", "Enc: x", plain, `-------- Mensagem encaminhada --------
De: João Silva <joao@cliente.example>
Data: segunda-feira, 6 de janeiro de 2025 09:14
Assunto: x
Para: mate@corp.example

Texto.
`, "", []wantOrig{{"João Silva", "joao@cliente.example", "2025-01-06T09:14:00+01:00", "Texto."}}},

		{"nl", "Doorst: x", plain, `Van: Jan Jansen <jan@klant.example>
Verzonden: maandag 6 januari 2025 09:14
Aan: Mate <mate@corp.example>
Onderwerp: x

Tekst.
`, "", []wantOrig{{"Jan Jansen", "jan@klant.example", "2025-01-06T09:14:00+01:00", "Tekst."}}},

		{"sv", "VB: x", plain, `Från: Sven Svensson <sven@kund.example>
Skickat: den 6 januari 2025 09:14
Till: Mate <mate@corp.example>
Ämne: x

Text.
`, "", []wantOrig{{"Sven Svensson", "sven@kund.example", "2025-01-06T09:14:00+01:00", "Text."}}},

		{"da", "VS: x", plain, `Fra: Lars Hansen <lars@kunde.example>
Sendt: 6. januar 2025 09:14
Til: Mate <mate@corp.example>
Emne: x

Tekst.
`, "", []wantOrig{{"Lars Hansen", "lars@kunde.example", "2025-01-06T09:14:00+01:00", "Tekst."}}},

		{"fi", "VL: x", plain, `Lähettäjä: Matti Virtanen <matti@asiakas.example>
Lähetetty: maanantai 6. tammikuuta 2025 9.14
Vastaanottaja: Mate <mate@corp.example>
Aihe: x

Teksti.
`, "", []wantOrig{{"Matti Virtanen", "matti@asiakas.example", "2025-01-06T09:14:00+01:00", "Teksti."}}},

		{"pl", "PD: x", plain, `Od: Jan Kowalski <jan@klient.example>
Wysłano: poniedziałek, 6 stycznia 2025 09:14
Do: Mate <mate@corp.example>
Temat: x

Tekst.
`, "", []wantOrig{{"Jan Kowalski", "jan@klient.example", "2025-01-06T09:14:00+01:00", "Tekst."}}},

		{"cs", "FW: x", plain, `Od: Jan Novák <jan@zakaznik.example>
Odesláno: pondělí 6. ledna 2025 9:14
Komu: Mate <mate@corp.example>
Předmět: x

Text.
`, "", []wantOrig{{"Jan Novák", "jan@zakaznik.example", "2025-01-06T09:14:00+01:00", "Text."}}},

		{"ru", "Fwd: x", plain, `-------- Пересылаемое сообщение --------
От: Иван Петров <ivan@klient.example>
Дата: понедельник, 6 января 2025 г. 9:14
Кому: Mate <mate@corp.example>
Тема: x

Текст.
`, "", []wantOrig{{"Иван Петров", "ivan@klient.example", "2025-01-06T09:14:00+01:00", "Текст."}}},

		{"tr", "İLT: x", plain, `Kimden: Ahmet Yılmaz <ahmet@musteri.example>
Gönderildi: 6 Ocak 2025 Pazartesi 09:14
Kime: Mate <mate@corp.example>
Konu: x

Metin.
`, "", []wantOrig{{"Ahmet Yılmaz", "ahmet@musteri.example", "2025-01-06T09:14:00+01:00", "Metin."}}},

		{"ja", "転送: x", plain, "差出人: 山田太郎 <yamada@kokyaku.example>\n送信日時: 2025年1月6日(月) 9:14\n宛先: Mate <mate@corp.example>\n件名: x\n\n本文。\n",
			"", []wantOrig{{"山田太郎", "yamada@kokyaku.example", "2025-01-06T09:14:00+01:00", "本文"}}},

		{"zh full-width colons", "转发: x", plain, "发件人：张伟 <zhang@kehu.example>\n发送时间：2025年1月6日 9:14\n收件人：Mate <mate@corp.example>\n主题：x\n\n正文。\n",
			"", []wantOrig{{"张伟", "zhang@kehu.example", "2025-01-06T09:14:00+01:00", "正文"}}},

		{"ko", "전달: x", plain, "보낸 사람: 김민수 <kim@gogaek.example>\n보낸 날짜: 2025년 1월 6일 월요일 오전 9:14\n받는 사람: Mate <mate@corp.example>\n제목: x\n\n본문.\n",
			"", []wantOrig{{"김민수", "kim@gogaek.example", "2025-01-06T09:14:00+01:00", "본문"}}},

		{"name without address", "FW: x", plain, `From: John Doe
Sent: Monday, January 6, 2025 9:14 AM
To: Mate
Subject: x

Body
`, "", []wantOrig{{"John Doe", "", "2025-01-06T09:14:00+01:00", "Body"}}},

		{"bare address", "Fwd: x", plain, `---------- Forwarded message ---------
From: john@example.com
Date: Mon, Jan 6, 2025 at 9:14 AM
Subject: x

Body
`, "", []wantOrig{{"", "john@example.com", "2025-01-06T09:14:00+01:00", "Body"}}},

		{"nested forward", "Fwd: Fwd: x", plain, `top note

---------- Forwarded message ---------
From: Second Mate <second@corp.example>
Date: Mon, Jan 6, 2025 at 10:00 AM
Subject: Fwd: x
To: <mate@corp.example>

second note

---------- Forwarded message ---------
From: John Doe <john@example.com>
Date: Mon, Jan 6, 2025 at 9:14 AM
Subject: x
To: <second@corp.example>

You are all fired.
`, "top note", []wantOrig{
			{"Second Mate", "second@corp.example", "2025-01-06T10:00:00+01:00", "second note"},
			{"John Doe", "john@example.com", "2025-01-06T09:14:00+01:00", "fired"},
		}},

		{"thread with quoted replies", "Fwd: x", plain, `---------- Forwarded message ---------
From: John Doe <john@example.com>
Date: Mon, Jan 6, 2025 at 9:14 AM
Subject: Re: x
To: <mate@corp.example>

Third time I ask.

On Sun, Jan 5, 2025 at 8:00 PM Mate <mate@corp.example> wrote:
> We are looking into it.
>
> Am So., 5. Jan. 2025 um 18:00 Uhr schrieb John Doe <john@example.com>:
>> Where is my refund?
`, "", []wantOrig{
			{"John Doe", "john@example.com", "2025-01-06T09:14:00+01:00", "Third time"},
			{"Mate", "mate@corp.example", "2025-01-05T20:00:00+01:00", "looking into it"},
			{"John Doe", "john@example.com", "2025-01-05T18:00:00+01:00", "refund"},
		}},

		{"gmail html only", "Fwd: hi", html, `<div dir="ltr">See below<br><br><div class="gmail_quote"><div dir="ltr" class="gmail_attr">---------- Forwarded message ---------<br>From: <strong class="gmail_sendername" dir="auto">John Doe</strong> <span dir="auto">&lt;<a href="mailto:john@example.com">john@example.com</a>&gt;</span><br>Date: Mon, Jan 6, 2025 at 9:14 AM<br>Subject: hi<br>To: &lt;<a href="mailto:mate@corp.example">mate@corp.example</a>&gt;<br></div><br><br><div dir="ltr">You are <b>useless</b>.</div></div></div>`,
			"See below", []wantOrig{{"John Doe", "john@example.com", "2025-01-06T09:14:00+01:00", "You are useless."}}},

		{"outlook web html", "FW: hi", html, `<div>Handle please</div><div id="appendonsend"></div><hr style="display:inline-block;width:98%" tabindex="-1"><div id="divRplyFwdMsg" dir="ltr"><font face="Calibri" style="font-size:11pt"><b>From:</b> John Doe &lt;john@example.com&gt;<br><b>Sent:</b> Monday, January 6, 2025 9:14 AM<br><b>To:</b> Mate &lt;mate@corp.example&gt;<br><b>Subject:</b> hi</font><div>&nbsp;</div></div><div>Body here</div>`,
			"Handle please", []wantOrig{{"John Doe", "john@example.com", "2025-01-06T09:14:00+01:00", "Body here"}}},

		{"outlook desktop html", "FW: hi", html, `<div class="WordSection1"><p class="MsoNormal">Handle please<o:p></o:p></p><p class="MsoNormal"><o:p>&nbsp;</o:p></p><div style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0in 0in 0in"><p class="MsoNormal"><b>From:</b> John Doe &lt;<a href="mailto:john@example.com">john@example.com</a>&gt; <br><b>Sent:</b> Monday, January 6, 2025 9:14 AM<br><b>To:</b> Mate &lt;mate@corp.example&gt;<br><b>Subject:</b> hi<o:p></o:p></p></div><p class="MsoNormal"><o:p>&nbsp;</o:p></p><p class="MsoNormal">Body here<o:p></o:p></p></div>`,
			"Handle please", []wantOrig{{"John Doe", "john@example.com", "2025-01-06T09:14:00+01:00", "Body here"}}},

		{"apple html blockquote", "Fwd: hi", html, `<html><body><div>FYI</div><div><br><blockquote type="cite"><div>Begin forwarded message:</div><br><div style="margin:0"><span><b>From: </b></span><span>John Doe &lt;<a href="mailto:john@example.com">john@example.com</a>&gt;<br></span></div><div style="margin:0"><span><b>Subject: </b></span><span><b>hi</b><br></span></div><div style="margin:0"><span><b>Date: </b></span><span>January 6, 2025 at 9:14:00 AM GMT+1<br></span></div><div style="margin:0"><span><b>To: </b></span><span>Mate &lt;mate@corp.example&gt;<br></span></div><br><div>Body here</div></blockquote></div></body></html>`,
			"FYI", []wantOrig{{"John Doe", "john@example.com", "2025-01-06T09:14:00+01:00", "Body here"}}},

		{"thunderbird html table", "Fwd: hi", html, `<p>note</p><div class="moz-forward-container"><br><br>-------- Forwarded Message --------<table class="moz-email-headers-table"><tbody><tr><th>Subject: </th><td>hi</td></tr><tr><th>Date: </th><td>Mon, 6 Jan 2025 09:14:00 +0100</td></tr><tr><th>From: </th><td>John Doe <a class="moz-txt-link-rfc2396E" href="mailto:john@example.com">&lt;john@example.com&gt;</a></td></tr><tr><th>To: </th><td><a href="mailto:mate@corp.example">mate@corp.example</a></td></tr></tbody></table><br><p>Body here</p></div>`,
			"note", []wantOrig{{"John Doe", "john@example.com", "2025-01-06T09:14:00+01:00", "Body here"}}},

		{"yahoo html", "Fwd: hi", html, `<div>see</div><div id="yahoo_quoted_123" class="yahoo_quoted"><div style="font-size:13px"><div>----- Forwarded Message -----</div><div><b>From:</b> John Doe &lt;john@example.com&gt;</div><div><b>To:</b> Mate &lt;mate@corp.example&gt;</div><div><b>Sent:</b> Monday, January 6, 2025, 09:14:00 AM GMT+1</div><div><b>Subject:</b> hi</div><div><br></div><div>Body here</div></div></div>`,
			"see", []wantOrig{{"John Doe", "john@example.com", "2025-01-06T09:14:00+01:00", "Body here"}}},

		{"unknown language decorated", "Fw: x", plain, `---------- Mesaj redirecționat ---------
From: John Doe <john@example.com>
Date: Mon, Jan 6, 2025 at 9:14 AM
Subject: x

Body
`, "", []wantOrig{{"John Doe", "john@example.com", "2025-01-06T09:14:00+01:00", "Body"}}},

		{"unknown language block below separator", "Fwd: x", plain, `nézd meg

-----Eredeti üzenet-----
Feladó: Kovács János <janos@ugyfel.example>
Elküldve: 2025. január 6. 9:14
Címzett: mate@corp.example
Tárgy: panasz

Szöveg.
`, "nézd meg", []wantOrig{{"Kovács János", "janos@ugyfel.example", "", "Szöveg."}}},

		{"quote-only forward", "Fwd: x", plain, `see below

On Mon, Jan 6, 2025 at 9:14 AM John Doe <john@example.com> wrote:
> You are useless.
`, "see below", []wantOrig{{"John Doe", "john@example.com", "2025-01-06T09:14:00+01:00", "useless"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse(strings.NewReader(mailWith(tt.subject, tt.ctype, tt.body)))
			if err != nil {
				t.Fatal(err)
			}
			if m.Kind != KindForward {
				t.Errorf("kind = %s, want forward", m.Kind)
			}
			if m.Note != tt.note {
				t.Errorf("note = %q, want %q", m.Note, tt.note)
			}
			checkOriginals(t, m, tt.want)
			for i, o := range m.Originals {
				if strings.Contains(o.Body, "Mate\n") || strings.HasSuffix(o.Body, "\nMate") || strings.Contains(o.Body, "-----") {
					t.Errorf("original %d body has the forwarder's text: %q", i, o.Body)
				}
			}
		})
	}
}

func TestQuoteHeaderLanguages(t *testing.T) {
	// Each attribution heads a quoted message inside a forward; the parser
	// must find the name, the address and the date.
	tests := []struct {
		line, name, addr, date string
	}{
		{"On Mon, Jan 6, 2025 at 9:14 AM John Doe <john@example.com> wrote:", "John Doe", "john@example.com", "2025-01-06T09:14:00+01:00"},
		{"On Jan 6, 2025, at 9:14 AM, John Doe <john@example.com> wrote:", "John Doe", "john@example.com", "2025-01-06T09:14:00+01:00"},
		{"On 1/6/25 9:14 AM, John Doe wrote:", "John Doe", "", "2025-01-06T09:14:00+01:00"},
		{"On Monday, January 6, 2025, 09:14:00 AM PST, John Doe <john@example.com> wrote:", "John Doe", "john@example.com", "2025-01-06T09:14:00-08:00"},
		{"On Monday, January 6th, 2025 at 9:14 AM, John Doe <john@example.com> wrote:", "John Doe", "john@example.com", "2025-01-06T09:14:00+01:00"},
		{"Am Mo., 6. Jan. 2025 um 09:14 Uhr schrieb John Doe <john@example.com>:", "John Doe", "john@example.com", "2025-01-06T09:14:00+01:00"},
		{"Am 06.01.2025 um 09:14 schrieb John Doe:", "John Doe", "", "2025-01-06T09:14:00+01:00"},
		{"Le lun. 6 janv. 2025 à 09:14, John Doe <john@example.com> a écrit :", "John Doe", "john@example.com", "2025-01-06T09:14:00+01:00"},
		{"El lun, 6 ene 2025 a las 9:14, John Doe (<john@example.com>) escribió:", "John Doe", "john@example.com", "2025-01-06T09:14:00+01:00"},
		{"Il giorno lun 6 gen 2025 alle ore 09:14 John Doe <john@example.com> ha scritto:", "John Doe", "john@example.com", "2025-01-06T09:14:00+01:00"},
		{"Em seg., 6 de jan. de 2025 às 09:14, John Doe <john@example.com> escreveu:", "John Doe", "john@example.com", "2025-01-06T09:14:00+01:00"},
		{"Op ma 6 jan 2025 om 09:14 schreef John Doe <john@example.com>:", "John Doe", "john@example.com", "2025-01-06T09:14:00+01:00"},
		{"Den mån 6 jan. 2025 kl 09:14 skrev John Doe <john@example.com>:", "John Doe", "john@example.com", "2025-01-06T09:14:00+01:00"},
		{"Den man. 6. jan. 2025 kl. 09.14 skrev John Doe <john@example.com>:", "John Doe", "john@example.com", "2025-01-06T09:14:00+01:00"},
		{"man. 6. jan. 2025 kl. 09:14 skrev John Doe <john@example.com>:", "John Doe", "john@example.com", "2025-01-06T09:14:00+01:00"},
		{"John Doe <john@example.com> kirjoitti ma 6.1.2025 klo 9.14:", "John Doe", "john@example.com", "2025-01-06T09:14:00+01:00"},
		{"W dniu pon., 6.01.2025 o 09:14 John Doe <john@example.com> napisał(a):", "John Doe", "john@example.com", "2025-01-06T09:14:00+01:00"},
		{"po 6. 1. 2025 v 9:14 odesílatel John Doe <john@example.com> napsal:", "John Doe", "john@example.com", "2025-01-06T09:14:00+01:00"},
		{"Dne 06.01.2025 v 9:14 John Doe napsal(a):", "John Doe", "", "2025-01-06T09:14:00+01:00"},
		{"пн, 6 янв. 2025 г. в 09:14, John Doe <john@example.com>:", "John Doe", "john@example.com", "2025-01-06T09:14:00+01:00"},
		{"6 января 2025 г., в 9:14, пользователь John Doe написал:", "John Doe", "", "2025-01-06T09:14:00+01:00"},
		{"John Doe <john@example.com>, 6 Oca 2025 Pzt, 09:14 tarihinde şunu yazdı:", "John Doe", "john@example.com", "2025-01-06T09:14:00+01:00"},
		{"2025年1月6日(月) 9:14 John Doe <john@example.com>:", "John Doe", "john@example.com", "2025-01-06T09:14:00+01:00"},
		{"2025/01/06 9:14、John Doe <john@example.com>のメール:", "John Doe", "john@example.com", "2025-01-06T09:14:00+01:00"},
		{"John Doe <john@example.com> 于2025年1月6日周一 09:14写道：", "John Doe", "john@example.com", "2025-01-06T09:14:00+01:00"},
		{"2025년 1월 6일 (월) 오전 9:14, John Doe <john@example.com>님이 작성:", "John Doe", "john@example.com", "2025-01-06T09:14:00+01:00"},
		{"---- On Mon, 06 Jan 2025 09:14:00 +0100 John Doe <john@example.com> wrote ---", "John Doe", "john@example.com", "2025-01-06T09:14:00+01:00"},
		{"Понедельник, 6 января 2025, 9:14 +03:00 от Иван Петров <ivan@klient.example>:", "Иван Петров", "ivan@klient.example", "2025-01-06T09:14:00+03:00"},
		{"John Doe <john@example.com> schrieb am Mo., 6. Jan. 2025, 09:14:", "John Doe", "john@example.com", "2025-01-06T09:14:00+01:00"},
		{"On Mon, 6 Jan 2025, 09:14 John Doe, <john@example.com> wrote:", "John Doe", "john@example.com", "2025-01-06T09:14:00+01:00"},
		{"On Mon, Jan 06, 2025 at 09:14:00AM +0100, John Doe wrote:", "John Doe", "", "2025-01-06T09:14:00+01:00"},
		{"* John Doe <john@example.com> [2025-01-06 09:14]:", "John Doe", "john@example.com", "2025-01-06T09:14:00+01:00"},
		{"John Doe wrote on 06.01.2025 09:14:", "John Doe", "", "2025-01-06T09:14:00+01:00"},
		{"Pe lun., 6 ian. 2025 la 09:14, John Doe <john@example.com> a scris:", "John Doe", "john@example.com", "2025-01-06T09:14:00+01:00"},
		{"Στις Δευ 6 Ιαν 2025 στις 9:14 μ.μ., ο/η John Doe <john@example.com> έγραψε:", "John Doe", "john@example.com", "2025-01-06T21:14:00+01:00"},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			body := "---------- Forwarded message ---------\nFrom: Mate <mate@corp.example>\nDate: Mon, Jan 6, 2025 at 10:00 AM\nSubject: x\n\nsee below\n\n" +
				tt.line + "\n> quoted text\n"
			m, err := Parse(strings.NewReader(mailWith("Fwd: x", "text/plain; charset=utf-8", body)))
			if err != nil {
				t.Fatal(err)
			}
			checkOriginals(t, m, []wantOrig{
				{"Mate", "mate@corp.example", "", "see below"},
				{tt.name, tt.addr, tt.date, "quoted text"},
			})
		})
	}
}

func TestOutlookReplyIsNotForward(t *testing.T) {
	body := `SEVER

________________________________
From: backstop <escalations@corp.example>
Sent: Monday, January 6, 2025 9:14 AM
To: Lead <lead@corp.example>
Subject: [backstop] incident 12

Reply with a command.
`
	m, err := Parse(strings.NewReader(mailWith("RE: [backstop] incident 12", "text/plain", body, "In-Reply-To: <inc12@corp.example>")))
	if err != nil {
		t.Fatal(err)
	}
	if m.Kind != KindReply || len(m.Originals) != 0 || m.Note != "" {
		t.Errorf("kind %s, %d originals, note %q: want a reply", m.Kind, len(m.Originals), m.Note)
	}
	if m.ReplyText != "SEVER" {
		t.Errorf("reply text = %q", m.ReplyText)
	}
}

func TestForwardLimitOriginals(t *testing.T) {
	var b strings.Builder
	for i := 0; i < 100; i++ {
		b.WriteString("---------- Forwarded message ---------\nFrom: Person <p@example.com>\nDate: Mon, Jan 6, 2025 at 9:14 AM\nSubject: x\n\nlevel\n\n")
	}
	m, err := Parse(strings.NewReader(mailWith("Fwd: x", "text/plain", b.String())))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Originals) != DefaultLimits.MaxOriginals {
		t.Errorf("%d originals, want %d", len(m.Originals), DefaultLimits.MaxOriginals)
	}
	if !hasWarning(m, "forwarded messages") {
		t.Errorf("no warning about the limit: %q", m.Warnings)
	}
}

func hasWarning(m *Message, substr string) bool {
	for _, w := range m.Warnings {
		if strings.Contains(w, substr) {
			return true
		}
	}
	return false
}

func TestForwardAttributionAfterSeparator(t *testing.T) {
	body := "смотри\n\n-------- Пересылаемое сообщение --------\n06.01.2025, 09:14, \"Иван Петров\" <ivan@klient.example>:\n\nВы все идиоты.\n\n-------- Конец пересылаемого сообщения --------\n"
	m, err := Parse(strings.NewReader(mailWith("Fwd: x", "text/plain; charset=utf-8", body)))
	if err != nil {
		t.Fatal(err)
	}
	if m.Note != "смотри" {
		t.Errorf("note %q", m.Note)
	}
	checkOriginals(t, m, []wantOrig{{"Иван Петров", "ivan@klient.example", "2025-01-06T09:14:00+01:00", "идиоты"}})
}
