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
// each language, to the blockField it stands for.
var headerLabels = map[string]blockField{}

func addLabels(f blockField, labels ...string) {
	for _, l := range labels {
		headerLabels[strings.ToLower(l)] = f
	}
}

func init() {
	addLabels(fieldFrom,
		"from", "sender", // en
		"von", "absender", // de
		"de", "expéditeur", "expediteur", // fr, es, pt
		"remitente",      // es
		"da", "mittente", // it
		"remetente",       // pt
		"van", "afzender", // nl
		"från", "fran", "avsändare", // sv
		"fra", "afsender", "avsender", // da, no
		"lähettäjä", "lahettaja", // fi
		"od", "nadawca", // pl, cs
		"odesílatel",                   // cs
		"от", "отправитель", "от кого", // ru
		"kimden", "gönderen", // tr
		"差出人", "送信者", "送信元", // ja
		"发件人", "寄件者", "寄件人", "發件人", "发信人", // zh
		"보낸 사람", "보낸사람", "보낸이", // ko
	)
	addLabels(fieldTo,
		"to", "an", "à", "a", "pour", "para", "aan", "till", "til", "vastaanottaja", "do",
		"komu", "кому", "kime", "alıcı", "宛先", "收件人", "收件者", "收信人",
		"받는 사람", "받는사람", "받는이", "destinataire", "destinatario", "empfänger",
		"adresát", "adresat", "mottagare", "modtager", "mottaker", "получатель",
	)
	addLabels(fieldCc,
		"cc", "kopie", "copie", "copia", "kopia", "kopi", "kopio", "dw", "копия",
		"bilgi", "抄送", "副本", "참조", "cópia", "con copia", "cc.", "c.c.",
	)
	addLabels(fieldBcc,
		"bcc", "blindkopie", "cci", "cco", "ccn", "bcc.", "udw", "skrytá kopie",
		"dold kopia", "bkopi", "piilokopio", "скрытая копия", "gizli", "密送", "숨은 참조",
	)
	addLabels(fieldDate,
		"date", "sent", "datum", "gesendet", "envoyé", "envoye", "envoyé le",
		"fecha", "enviado", "enviado el", "enviada", "enviada em", "data", "inviato",
		"verzonden", "verstuurd", "skickat", "skickad", "dato", "sendt",
		"päivämäärä", "päiväys", "lähetetty", "wysłano", "wysłane", "odesláno",
		"дата", "отправлено", "tarih", "gönderildi", "gönderilme", "gönderme tarihi",
		"日付", "送信日時", "日時", "日期", "发送时间", "发送日期", "發送日期", "發送時間", "寄件日期", "傳送時間", "时间", "時間",
		"날짜", "보낸 날짜", "보낸날짜", "보낸 시간", "sent at", "sent on",
	)
	addLabels(fieldSubject,
		"subject", "betreff", "objet", "asunto", "oggetto", "assunto", "onderwerp",
		"ämne", "amne", "emne", "aihe", "temat", "předmět", "predmet", "тема", "konu",
		"件名", "主题", "主旨", "標題", "제목", "sujet", "titel",
	)
	// More languages than the issue asks for, so that forwards from
	// colleagues elsewhere are read too: Hungarian, Greek, Romanian,
	// Ukrainian, Bulgarian, Croatian/Serbian/Slovenian, Slovak, Catalan,
	// Estonian, Latvian, Lithuanian, Indonesian, Vietnamese, Hebrew, Arabic.
	addLabels(fieldFrom, "feladó", "από", "de la", "від", "šalje", "pošiljatelj", "saatja", "nuo", "dari", "từ", "מאת", "من")
	addLabels(fieldDate, "elküldve", "dátum", "στάλθηκε", "ημερομηνία", "trimis", "dată", "data trimiterii", "надіслано", "изпратено",
		"poslano", "poslato", "odoslané", "enviat", "saadetud", "nosūtīts", "išsiųsta", "dikirim", "tanggal", "đã gửi", "ngày", "נשלח", "תאריך", "التاريخ", "تاريخ الإرسال")
	addLabels(fieldTo, "címzett", "προς", "către", "catre", "prima", "za", "per a", "adressaat", "kam", "kepada", "đến", "אל", "إلى")
	addLabels(fieldCc, "másolatot kap", "κοιν.", "κοιν", "копія", "kópia", "còpia", "koopia", "tembusan", "עותק")
	addLabels(fieldSubject, "tárgy", "θέμα", "subiect", "predmet", "zadeva", "assumpte", "teema", "tēma", "subjek", "perihal", "chủ đề", "נושא", "الموضوع")
	addLabels(fieldOther,
		"reply-to", "reply to", "antwort an", "répondre à", "responder a", "rispondi a",
		"antwoord aan", "svara till", "svar til", "vastaus", "odpowiedź do", "odpověď na",
		"ответить", "yanıtla", "返信先", "回复", "回覆至", "회신", "importance", "priority",
		"wichtigkeit", "priorität", "importancia", "priorità", "prioriteit", "prioritet",
		"tärkeys", "ważność", "důležitost", "важность", "önem", "重要度", "重要性", "중요도",
		"attachments", "anlagen", "anhänge", "pièces jointes", "datos adjuntos", "adjuntos",
		"allegati", "anexos", "bijlagen", "bilagor", "vedhæftede filer", "vedlegg",
		"liitteet", "załączniki", "přílohy", "вложения", "ekler", "添付ファイル", "附件",
		"첨부", "첨부 파일", "message-id", "organization", "organisation", "mailed-by", "signed-by",
		"security", "user-agent", "newsgroups", "x-mailer",
	)
}

// forwardWords are words that mark a separator line as announcing a
// forwarded or original message ("---------- Forwarded message ---------",
// "Begin forwarded message:", "-----Ursprüngliche Nachricht-----").
var forwardWords = []string{
	"forward", "fwd", "original message", "original e-mail", "original email",
	"weitergeleitet", "ursprüngliche nachricht", "originalnachricht",
	"transféré", "transfere", "réexpédié", "reexpedie", "message d'origine", "message original",
	"reenviado", "mensaje original", "reenvío", "mensaje reenviado",
	"inoltrato", "messaggio originale",
	"encaminhad", "reencaminhad", "mensagem original", "mensagem encaminhada",
	"doorgestuurd", "oorspronkelijk bericht", "origineel bericht", "doorgestuurde",
	"vidarebefordra", "ursprungligt meddelande", "originalmeddelande",
	"videresend", "oprindelig meddelelse", "opprinnelig melding", "original meddelelse",
	"välitetty", "edelleenlähetetty", "alkuperäinen viesti",
	"przekazan", "przekazyw", "przesłan", "oryginalna wiadomość", "wiadomość oryginalna",
	"přeposlan", "původní zpráva", "preposlan",
	"пересыла", "переслан", "переадрес", "исходное сообщение", "оригинальное сообщение",
	"iletilen", "iletilmiş", "özgün ileti", "orijinal mesaj", "orijinal ileti",
	"転送", "元のメッセージ", "原始邮件", "原始郵件", "转发", "轉寄", "轉發", "原邮件", "邮件原件", "郵件原件",
	"전달", "원본 메시지", "원래 메시지",
	"továbbított", "eredeti üzenet", "προωθημένο", "αρχικό μήνυμα", "redirecționat", "redirectionat", "mesaj original",
	"переслане", "пересланий", "оригінальне повідомлення", "препратено", "оригинално съобщение", "proslijeđen", "prosleđen",
	"posredovan", "izvorna poruka", "izvirno sporočilo", "preposlaná", "pôvodná správa", "reenviat", "missatge original",
	"edastatud", "algne sõnum", "pārsūtīt", "sākotnējais", "persiųst", "pradinis laiškas", "pesan terusan", "pesan asli",
	"chuyển tiếp", "thư gốc", "הודעה מועברת", "הודעה מקורית", "معاد توجيه", "الرسالة الأصلية", "ส่งต่อ",
}

// forwardOnlyWords are the forwardWords that say "forwarded" rather than
// "original": Outlook's "Original Message" separator heads replies as well
// as forwards.
var originalOnlyWords = []string{
	"original", "ursprüngliche", "originalnachricht", "d'origine", "originale", "oorspronkelijk",
	"origineel", "ursprungligt", "originalmeddelande", "oprindelig", "opprinnelig",
	"alkuperäinen", "oryginalna", "původní", "исходное", "оригинальное", "özgün", "orijinal",
	"元の", "原始", "原邮件", "原件", "원본", "원래",
	"eredeti", "αρχικό", "оригінальне", "оригинално", "izvorna", "izvirno", "pôvodná", "algne", "sākotnējais",
	"pradinis", "asli", "thư gốc", "מקורית", "الأصلية",
}

// endForwardWords mark the end of a forwarded message ("----- End forwarded
// message -----" in mutt).
var endForwardWords = []string{"end forwarded", "end of forwarded", "end of original", "ende der weitergeleiteten",
	"fin du message", "fin del mensaje", "конец пересылаемого", "конец исходного"}

// forwardSubjectPrefixes and replySubjectPrefixes are the subject prefixes
// clients add, lower-cased, without the colon.
var forwardSubjectPrefixes = []string{
	"fwd", "fw", "wg", "tr", "rv", "enc", "i", "doorst", "vb", "vl", "pd", "pf", "přep", "fs",
	"İlt", "ilt", "ilet", "пересл", "转发", "轉寄", "転送", "전달", "fwd.", "reenv", "doorgestuurd", "továbbítás", "πρθ", "trs",
}

var replySubjectPrefixes = []string{
	"re", "aw", "sv", "antw", "r", "res", "odp", "odg", "ynt", "yanit", "ha", "atb", "відп",
	"ответ", "回复", "回覆", "答复", "返信", "답장", "회신", "rif", "réf", "ref", "vá", "απ", "відп", "odg", "bls",
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

// quoteVerbs are the words that end (or sit inside) a quote header in each
// language: "wrote", "schrieb", "a écrit", ... A line containing one of them
// and ending in a colon is a quote header even when no quoted text follows.
// Verbs marked true must start a word.
var quoteVerbs = []struct {
	verb string
	word bool
}{
	{"wrote", true}, {"writes", true}, {"schrieb", true}, {"schreibt", true}, {"a écrit", false},
	{"a ecrit", false}, {"escribió", false}, {"escribio", false}, {"ha scritto", true}, {"scrisse", true},
	{"escreveu", false}, {"schreef", true}, {"skrev", true}, {"skriver", true}, {"kirjoitti", false},
	{"napisał(a)", false}, {"napisała", false}, {"napisał", false}, {"napisal", false}, {"napsal(a)", false},
	{"napsala", false}, {"napsal", false}, {"написал(а)", false}, {"написала", false}, {"написал", false},
	{"пишет", false}, {"şunu yazdı", false}, {"yazdı", false}, {"書きました", false}, {"のメール", false},
	{"写道", false}, {"寫道", false}, {"님이 작성", false}, {"작성:", false}, {"a scris", false}, {"írta", false},
	{"έγραψε", false}, {"написав", false}, {"написа", false}, {"napisao", false}, {"napisala", false}, {"napísal", false},
	{"menulis", true}, {"kirjutas", true}, {"rašė", false}, {"rakstīja", false}, {"escrigué", false}, {"đã viết", false},
	{"כתב", false}, {"كتب", false},
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
