package parse

import (
	"regexp"
	"strings"
)

// This file holds the words mail clients write around forwarded and quoted
// messages, in the languages backstop reads. The rules that use them are
// generic (a run of "Label: value" lines, a rule line with a phrase, a line
// ending in a colon above quoted text); the tables only say which words
// count.

// blockField is what a label of a forwarded header block stands for.
type blockField int

const (
	fieldNone blockField = iota
	fieldFrom
	fieldTo
	fieldCc
	fieldBcc
	fieldDate // Date, Sent
	fieldSubject
	fieldOther // labels that belong in a block but are not kept (Reply-To, Importance, ...)
)

// headerLabels maps a lower-cased header-block label, as clients write it in
// each language, to the blockField it stands for. It and the word lists
// below are built from languages.
var headerLabels = map[string]blockField{}

// language is one row of the tables: the words one language's mail clients
// (desktop, webmail, mobile) write around forwarded and quoted messages.
// Adding a language is adding a row; words shared with another language
// may be listed in both.
type language struct {
	code string
	// Labels of a forwarded header block ("From:", "Von:", "差出人:"),
	// lower-case, without the colon. other are labels that belong in a
	// block but are not kept (Reply-To, Importance, Attachments).
	from, to, cc, bcc, date, subject, other []string
	// forward and original are the words of a separator line ("----------
	// Forwarded message ---------", "-----Original Message-----"): an
	// original-message separator heads replies as well as forwards.
	forward, original []string
	// end are words that end a forwarded message ("----- End forwarded
	// message -----").
	end []string
	// wrote are the verbs of a quote header ("On …, X wrote:");
	// wroteWord are those that must start a word.
	wrote, wroteWord []string
	// fwdPrefix and replyPrefix are subject prefixes, without the colon.
	fwdPrefix, replyPrefix []string
}

var languages = []language{
	{code: "en", from: w("from", "sender"), to: w("to"), cc: w("cc", "cc.", "c.c."), bcc: w("bcc", "bcc."),
		date: w("date", "sent", "sent at", "sent on"), subject: w("subject"),
		other: w("reply-to", "reply to", "importance", "priority", "attachments", "message-id", "organization", "organisation",
			"mailed-by", "signed-by", "security", "user-agent", "newsgroups", "x-mailer"),
		forward: w("forward", "fwd"), original: w("original message", "original e-mail", "original email"),
		end: w("end forwarded", "end of forwarded", "end of original"), wroteWord: w("wrote", "writes"),
		fwdPrefix: w("fwd", "fw", "fwd."), replyPrefix: w("re")},
	{code: "de", from: w("von", "absender"), to: w("an", "empfänger"), cc: w("kopie"), bcc: w("blindkopie"),
		date: w("datum", "gesendet"), subject: w("betreff", "titel"), other: w("antwort an", "wichtigkeit", "priorität", "anlagen", "anhänge"),
		forward: w("weitergeleitet"), original: w("ursprüngliche nachricht", "originalnachricht"), end: w("ende der weitergeleiteten"),
		wroteWord: w("schrieb", "schreibt"), fwdPrefix: w("wg"), replyPrefix: w("aw", "antw")},
	{code: "fr", from: w("de", "expéditeur", "expediteur"), to: w("à", "pour", "destinataire"), cc: w("copie"), bcc: w("cci"),
		date: w("date", "envoyé", "envoye", "envoyé le"), subject: w("objet", "sujet"), other: w("répondre à", "pièces jointes"),
		forward: w("transféré", "transfere", "réexpédié", "reexpedie"), original: w("message d'origine", "message original"),
		end: w("fin du message"), wrote: w("a écrit", "a ecrit"), fwdPrefix: w("tr", "trs"), replyPrefix: w("réf", "ref")},
	{code: "es", from: w("de", "remitente"), to: w("para", "destinatario"), cc: w("copia", "con copia"), bcc: w("cco"),
		date: w("fecha", "enviado", "enviado el"), subject: w("asunto"), other: w("responder a", "importancia", "datos adjuntos", "adjuntos"),
		forward: w("reenviado", "reenvío", "mensaje reenviado"), original: w("mensaje original"), end: w("fin del mensaje"),
		wrote: w("escribió", "escribio"), fwdPrefix: w("rv", "reenv")},
	{code: "it", from: w("da", "mittente"), to: w("a", "destinatario"), cc: w("copia", "cc"), bcc: w("ccn"),
		date: w("data", "inviato"), subject: w("oggetto"), other: w("rispondi a", "priorità", "allegati"),
		forward: w("inoltrato"), original: w("messaggio originale"), wroteWord: w("ha scritto", "scrisse"),
		fwdPrefix: w("i"), replyPrefix: w("r", "rif")},
	{code: "pt", from: w("de", "remetente"), to: w("para"), cc: w("cc", "cópia"), bcc: w("cco"),
		date: w("data", "enviado", "enviada", "enviada em"), subject: w("assunto"), other: w("responder a", "anexos"),
		forward: w("encaminhad", "reencaminhad", "mensagem encaminhada"), original: w("mensagem original"),
		wrote: w("escreveu"), fwdPrefix: w("enc"), replyPrefix: w("res")},
	{code: "nl", from: w("van", "afzender"), to: w("aan"), cc: w("cc", "kopie"), date: w("datum", "verzonden", "verstuurd"),
		subject: w("onderwerp", "titel"), other: w("antwoord aan", "prioriteit", "bijlagen"),
		forward: w("doorgestuurd", "doorgestuurde"), original: w("oorspronkelijk bericht", "origineel bericht"),
		wroteWord: w("schreef"), fwdPrefix: w("doorst", "doorgestuurd"), replyPrefix: w("antw")},
	{code: "sv", from: w("från", "fran", "avsändare"), to: w("till", "mottagare"), cc: w("kopia"), bcc: w("dold kopia"),
		date: w("datum", "skickat", "skickad"), subject: w("ämne", "amne"), other: w("svara till", "prioritet", "bilagor"),
		forward: w("vidarebefordra"), original: w("ursprungligt meddelande", "originalmeddelande"),
		wroteWord: w("skrev", "skriver"), fwdPrefix: w("vb"), replyPrefix: w("sv")},
	{code: "da", from: w("fra", "afsender"), to: w("til", "modtager"), cc: w("cc", "kopi"), bcc: w("bcc", "bkopi"),
		date: w("dato", "sendt"), subject: w("emne"), other: w("svar til", "prioritet", "vedhæftede filer"),
		forward: w("videresend"), original: w("oprindelig meddelelse", "original meddelelse"), wroteWord: w("skrev"),
		replyPrefix: w("sv")},
	{code: "no", from: w("fra", "avsender"), to: w("til", "mottaker"), cc: w("kopi"), bcc: w("bkopi"),
		date: w("dato", "sendt"), subject: w("emne"), other: w("svar til", "prioritet", "vedlegg"),
		forward: w("videresend"), original: w("opprinnelig melding"), wroteWord: w("skrev"), replyPrefix: w("sv")},
	{code: "fi", from: w("lähettäjä", "lahettaja"), to: w("vastaanottaja"), cc: w("kopio"), bcc: w("piilokopio"),
		date: w("päivämäärä", "päiväys", "lähetetty"), subject: w("aihe"), other: w("vastaus", "tärkeys", "liitteet"),
		forward: w("välitetty", "edelleenlähetetty"), original: w("alkuperäinen viesti"), wrote: w("kirjoitti"),
		fwdPrefix: w("vl")},
	{code: "pl", from: w("od", "nadawca"), to: w("do", "adresat"), cc: w("dw", "kopia"), bcc: w("udw"),
		date: w("data", "wysłano", "wysłane"), subject: w("temat"), other: w("odpowiedź do", "ważność", "załączniki"),
		forward: w("przekazan", "przekazyw", "przesłan"), original: w("oryginalna wiadomość", "wiadomość oryginalna"),
		wrote: w("napisał(a)", "napisała", "napisał", "napisal"), fwdPrefix: w("pd", "pf"), replyPrefix: w("odp")},
	{code: "cs", from: w("od", "odesílatel"), to: w("komu", "adresát"), cc: w("kopie"), bcc: w("skrytá kopie"),
		date: w("datum", "odesláno"), subject: w("předmět"), other: w("odpověď na", "důležitost", "přílohy"),
		forward: w("přeposlan", "preposlan"), original: w("původní zpráva"), wrote: w("napsal(a)", "napsala", "napsal"),
		fwdPrefix: w("přep", "fs")},
	{code: "sk", from: w("od"), to: w("komu"), cc: w("kópia"), date: w("dátum", "odoslané"), subject: w("predmet"),
		forward: w("preposlaná"), original: w("pôvodná správa"), wrote: w("napísal")},
	{code: "ru", from: w("от", "отправитель", "от кого"), to: w("кому", "получатель"), cc: w("копия"), bcc: w("скрытая копия"),
		date: w("дата", "отправлено"), subject: w("тема"), other: w("ответить", "важность", "вложения"),
		forward: w("пересыла", "переслан", "переадрес"), original: w("исходное сообщение", "оригинальное сообщение"),
		end: w("конец пересылаемого", "конец исходного"), wrote: w("написал(а)", "написала", "написал", "пишет"),
		fwdPrefix: w("пересл"), replyPrefix: w("ответ")},
	{code: "uk", from: w("від"), to: w("кому"), cc: w("копія"), date: w("дата", "надіслано"), subject: w("тема"),
		forward: w("переслане", "пересланий"), original: w("оригінальне повідомлення", "вихідне повідомлення"),
		wrote: w("написав"), replyPrefix: w("відп")},
	{code: "bg", to: w("до"), date: w("изпратено"), subject: w("тема"), forward: w("препратено"),
		original: w("оригинално съобщение"), wrote: w("написа")},
	{code: "hr", // Croatian, Serbian (Latin), Slovenian, Bosnian
		from: w("šalje", "pošiljatelj", "od"), to: w("prima", "za"), cc: w("kopija"), date: w("poslano", "poslato", "datum"),
		subject: w("predmet", "zadeva"), forward: w("proslijeđen", "prosleđen", "posredovan"),
		original: w("izvorna poruka", "izvirno sporočilo"), wrote: w("napisao", "napisala"), replyPrefix: w("odg")},
	{code: "hu", from: w("feladó"), to: w("címzett"), cc: w("másolatot kap"), date: w("elküldve", "dátum"), subject: w("tárgy"),
		forward: w("továbbított"), original: w("eredeti üzenet"), wrote: w("írta"), fwdPrefix: w("továbbítás", "tov"),
		replyPrefix: w("vá")},
	{code: "ro", from: w("de la"), to: w("către", "catre"), date: w("trimis", "dată", "data trimiterii"), subject: w("subiect"),
		forward: w("redirecționat", "redirectionat"), original: w("mesaj original"), wrote: w("a scris"), fwdPrefix: w("redir")},
	{code: "el", from: w("από"), to: w("προς"), cc: w("κοιν.", "κοιν"), date: w("στάλθηκε", "ημερομηνία"), subject: w("θέμα"),
		forward: w("προωθημένο"), original: w("αρχικό μήνυμα"), wrote: w("έγραψε"), fwdPrefix: w("πρθ"), replyPrefix: w("απ")},
	{code: "tr", from: w("kimden", "gönderen"), to: w("kime", "alıcı"), cc: w("bilgi"), bcc: w("gizli"),
		date: w("tarih", "gönderildi", "gönderilme", "gönderme tarihi"), subject: w("konu"), other: w("yanıtla", "önem", "ekler"),
		forward: w("iletilen", "iletilmiş"), original: w("özgün ileti", "orijinal mesaj", "orijinal ileti"),
		wrote: w("şunu yazdı", "yazdı"), fwdPrefix: w("İlt", "ilt", "ilet"), replyPrefix: w("ynt", "yanit")},
	{code: "ca", to: w("per a"), cc: w("còpia"), date: w("enviat"), subject: w("assumpte"), forward: w("reenviat"),
		original: w("missatge original"), wrote: w("escrigué")},
	{code: "et", from: w("saatja"), to: w("adressaat"), cc: w("koopia"), date: w("saadetud"), subject: w("teema"),
		forward: w("edastatud"), original: w("algne sõnum"), wroteWord: w("kirjutas")},
	{code: "lv", to: w("kam"), date: w("nosūtīts"), subject: w("tēma"), forward: w("pārsūtīt"), original: w("sākotnējais"),
		wrote: w("rakstīja"), replyPrefix: w("atb")},
	{code: "lt", from: w("nuo"), date: w("išsiųsta"), forward: w("persiųst"), original: w("pradinis laiškas"), wrote: w("rašė")},
	{code: "id", from: w("dari"), to: w("kepada"), cc: w("tembusan"), date: w("dikirim", "tanggal"), subject: w("subjek", "perihal"),
		forward: w("pesan terusan"), original: w("pesan asli"), wroteWord: w("menulis"), replyPrefix: w("bls")},
	{code: "vi", from: w("từ"), to: w("đến"), date: w("đã gửi", "ngày"), subject: w("chủ đề"), forward: w("chuyển tiếp"),
		original: w("thư gốc"), wrote: w("đã viết")},
	{code: "he", from: w("מאת"), to: w("אל"), cc: w("עותק"), date: w("נשלח", "תאריך"), subject: w("נושא"),
		forward: w("הודעה מועברת"), original: w("הודעה מקורית"), wrote: w("כתב")},
	{code: "ar", from: w("من"), to: w("إلى"), date: w("التاريخ", "تاريخ الإرسال"), subject: w("الموضوع"),
		forward: w("معاد توجيه"), original: w("الرسالة الأصلية"), wrote: w("كتب")},
	{code: "th", forward: w("ส่งต่อ")},
	{code: "ja", from: w("差出人", "送信者", "送信元"), to: w("宛先"), date: w("日付", "送信日時", "日時"), subject: w("件名"),
		other: w("返信先", "重要度", "添付ファイル"), forward: w("転送"), original: w("元のメッセージ"),
		wrote: w("書きました", "のメール"), fwdPrefix: w("転送"), replyPrefix: w("返信")},
	{code: "zh", from: w("发件人", "寄件者", "寄件人", "發件人", "发信人"), to: w("收件人", "收件者", "收信人"), cc: w("抄送", "副本"),
		bcc: w("密送"), date: w("日期", "发送时间", "发送日期", "發送日期", "發送時間", "寄件日期", "傳送時間", "时间", "時間"),
		subject: w("主题", "主旨", "標題"), other: w("回复", "回覆至", "重要性", "附件"),
		forward: w("转发", "轉寄", "轉發"), original: w("原始邮件", "原始郵件", "原邮件", "邮件原件", "郵件原件"),
		wrote: w("写道", "寫道"), fwdPrefix: w("转发", "轉寄"), replyPrefix: w("回复", "回覆", "答复")},
	{code: "ko", from: w("보낸 사람", "보낸사람", "보낸이"), to: w("받는 사람", "받는사람", "받는이"), cc: w("참조"), bcc: w("숨은 참조"),
		date: w("날짜", "보낸 날짜", "보낸날짜", "보낸 시간"), subject: w("제목"), other: w("회신", "중요도", "첨부", "첨부 파일"),
		forward: w("전달"), original: w("원본 메시지", "원래 메시지"), wrote: w("님이 작성", "작성:"),
		fwdPrefix: w("전달"), replyPrefix: w("답장", "회신")},
}

// w lists words: it keeps the rows of languages short.
func w(words ...string) []string { return words }

// The word lists the rules use, built from languages.
var (
	// forwardWords mark a separator line as announcing a forwarded or
	// original message.
	forwardWords []string
	// originalOnlyWords are the forwardWords that say "original" rather
	// than "forwarded": Outlook's "Original Message" separator heads
	// replies as well as forwards.
	originalOnlyWords []string
	// endForwardWords mark the end of a forwarded message.
	endForwardWords []string
	// forwardSubjectPrefixes and replySubjectPrefixes are subject
	// prefixes, lower-cased, without the colon.
	forwardSubjectPrefixes, replySubjectPrefixes []string
	// quoteVerbs end (or sit inside) a quote header; word marks those
	// that must start a word.
	quoteVerbs []quoteVerb
)

type quoteVerb struct {
	verb string
	word bool
}

func init() {
	for _, l := range languages {
		for _, f := range []struct {
			field  blockField
			labels []string
		}{{fieldFrom, l.from}, {fieldTo, l.to}, {fieldCc, l.cc}, {fieldBcc, l.bcc}, {fieldDate, l.date},
			{fieldSubject, l.subject}, {fieldOther, l.other}} {
			for _, label := range f.labels {
				headerLabels[strings.ToLower(label)] = f.field
			}
		}
		forwardWords = append(forwardWords, l.forward...)
		forwardWords = append(forwardWords, l.original...)
		originalOnlyWords = append(originalOnlyWords, l.original...)
		endForwardWords = append(endForwardWords, l.end...)
		forwardSubjectPrefixes = append(forwardSubjectPrefixes, l.fwdPrefix...)
		replySubjectPrefixes = append(replySubjectPrefixes, l.replyPrefix...)
		for _, v := range l.wrote {
			quoteVerbs = append(quoteVerbs, quoteVerb{v, false})
		}
		for _, v := range l.wroteWord {
			quoteVerbs = append(quoteVerbs, quoteVerb{v, true})
		}
	}
	labelInLineRe = labelsRegexp()
}

// subjectPrefixRe matches one leading "Xx:" or "Xx[2]:" prefix.
var subjectPrefixRe = regexp.MustCompile(`^\s*([\p{L}.]{1,12})\s*(?:\[\d+\]|\(\d+\))?\s*[:：]\s*`)

// baseSubject removes the forward and reply prefixes of a subject
// ("FW: RE: Refund" is "Refund"); other prefixes are kept.
func baseSubject(subject string) string {
	s := strings.TrimSpace(subject)
	for k := 0; k < 10; k++ {
		m := subjectPrefixRe.FindStringSubmatchIndex(s)
		if m == nil || subjectKind(s) == KindOther {
			break
		}
		s = strings.TrimSpace(s[m[1]:])
	}
	return s
}

// subjectKind reports whether a subject starts with a forward or a reply
// prefix (the first prefix decides).
func subjectKind(subject string) Kind {
	m := subjectPrefixRe.FindStringSubmatch(subject)
	if m == nil {
		return KindOther
	}
	p := strings.ToLower(m[1])
	for _, f := range forwardSubjectPrefixes {
		if p == strings.ToLower(f) {
			return KindForward
		}
	}
	for _, r := range replySubjectPrefixes {
		if p == r {
			return KindReply
		}
	}
	return KindOther
}

// findQuoteVerb returns the position of the first quote verb in s, or nil.
func findQuoteVerb(s string) []int {
	ls := strings.ToLower(s)
	if len(ls) != len(s) {
		ls = lowerSameLength(s)
	}
	best := []int(nil)
	for _, v := range quoteVerbs {
		from := 0
		for {
			k := strings.Index(ls[from:], v.verb)
			if k < 0 {
				break
			}
			k += from
			if v.word && k > 0 && isASCIIWordByte(ls[k-1]) {
				from = k + 1
				continue
			}
			if best == nil || k < best[0] || k == best[0] && k+len(v.verb) > best[1] {
				best = []int{k, k + len(v.verb)}
			}
			break
		}
	}
	return best
}

// lowerSameLength lower-cases the ASCII letters of s only, keeping byte
// offsets.
func lowerSameLength(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func isASCIIWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

// quoteHeaderStart are words that open a quote header before its date, so
// the date parser and the name finder can skip them.
var quoteHeaderLead = regexp.MustCompile(`(?i)^\s*(on|am|le|el|il giorno|il|em|op|den|dne|w dniu|citando|quoting|zitat von)\s+`)

// footerRe matches the one-line footers mobile and web clients append
// ("Sent from my iPhone", "Von meinem iPhone gesendet", "Get Outlook for
// iOS"). A footer is dropped with everything below it.
var footerRe = regexp.MustCompile(`(?i)^\s*(` +
	`sent (from|with|via|using) .{1,60}|get outlook for .{1,30}|download outlook for .{1,30}|` +
	`(von|vom) (meinem|meiner|mein) .{1,40} gesendet|gesendet (von|mit) .{1,40}|` +
	`envoyé (de|depuis|avec) .{1,40}|` +
	`enviado (desde|de|do|com|con) .{1,40}|` +
	`inviato (da|con) .{1,40}|` +
	`(verzonden|verstuurd) (vanaf|van|met) .{1,40}|` +
	`skickat (från|med) .{1,40}|` +
	`sendt (fra|med) .{1,40}|` +
	`lähetetty .{1,40}|` +
	`wysłane (z|ze|przy) .{1,40}|` +
	`odesláno (z|ze|pomocí) .{1,40}|` +
	`отправлено (с|из|через) .{1,40}|` +
	`.{1,40}('?[dt][ae]n|'?[dt][ıi]r|'?[dt][ıi]) gönderildi|` +
	`.{1,30}から送信|` +
	`发自我的.{1,30}|从我的.{1,30}发送|從我的.{1,30}傳送|寄自我的.{1,30}|` +
	`.{1,30}에서 보냄|` +
	`sent with proton mail.{0,40}|sent from proton mail.{0,40}|secured by proton mail.{0,20}|` +
	`.{0,40}\boutlook\b.{0,30}\b(ios|android)\b.{0,20}` +
	`)\s*(<https?://[^>\s]*>)?\s*$`)
