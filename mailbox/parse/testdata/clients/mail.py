#!/usr/bin/env python3
"""Helpers for generate.sh: the hand-written originals, their delivery over
SMTP, the fetch of what the clients sent (over IMAP, byte for byte), and the
expectation files.

The expectations come from the tables below, that is from what was put in
each original and what each client was told to do; never from the parser.

    mail.py originals DIR            write DIR/<name>.eml for every original
    mail.py deliver DIR PORT         send them over SMTP to their mailboxes
    mail.py maxuid USER PORT         print the highest UID in USER's INBOX
    mail.py fetch USER PORT UID OUT [SECONDS]
                                     wait for a message with a UID above UID,
                                     write its bytes (BODY.PEEK[]) to OUT
    mail.py dump USER PORT DIR       write every message of USER's INBOX to
                                     DIR/N.eml with LF line ends, in the
                                     order of the originals (for nmh)
    mail.py note ORIGINAL            print the note typed above a forward
    mail.py reply ORIGINAL           print the text the lead types in a reply
    mail.py list forward|reply       print the names of the originals
    mail.py expect ORIGINAL ACTION CLIENT VERSION OUT
                                     write the expectation file OUT
    mail.py reexpect DIR             rewrite every DIR/CLIENT/NAME.expect.json
                                     from the tables (after a table change),
                                     keeping the client version it names
"""

import base64
import imaplib
import json
import quopri
import smtplib
import sys
import time
from email.header import Header

PASSWORD = "secret"
TEAMMATE = ("Sam Carter", "sam@support.example")
LEAD = ("Lee Morgan", "lee@support.example")
BACKSTOP = ("backstop", "escalations@support.example")

# Forward originals: customers writing to the teammate. "phrase" is a
# sentence of the body that must reach the evidence intact.
FORWARDS = [
    dict(
        name="de_latin1",
        charset="iso-8859-1", cte="quoted-printable",
        from_=("Jürgen Müller", "j.mueller@kunde-de.example"),
        to=[TEAMMATE], cc=[],
        subject="Beschwerde über die Lieferung vom 2. Januar",
        date="Mon, 05 Jan 2026 09:14:07 +0100",
        body="Sehr geehrte Damen und Herren,\n\n"
        "ich warte seit drei Wochen auf meine Bestellung. Ihre Mitarbeiter sind\n"
        "unfähig, und ich lasse mir das nicht länger gefallen.\n"
        "Wenn bis Freitag nichts passiert, schreibe ich überall, was für ein\n"
        "Saftladen Ihre Firma ist.\n\n"
        "Grüße\nJürgen Müller\n",
        phrase="ich lasse mir das nicht länger gefallen",
        note="Hallo zusammen,\nder Kunde wird jetzt persönlich. Könnt ihr das übernehmen?",
    ),
    dict(
        name="de_utf8",
        charset="utf-8", cte="8bit",
        from_=("Erika Weiß", "erika.weiss@beispiel-gmbh.example"),
        to=[TEAMMATE], cc=[],
        subject="Ihre Rechnung Nr. 4711 – völlig überzogen",
        date="Tue, 06 Jan 2026 16:02:51 +0100",
        body="Guten Tag Herr Carter,\n\n"
        "die Rechnung ist eine Frechheit. Sie und Ihre Kollegen sind\n"
        "offensichtlich zu dumm, um bis drei zu zählen.\n"
        "Ich erwarte heute noch eine Gutschrift über 312,50 €.\n\n"
        "Erika Weiß\nBeispiel GmbH, Straße des 17. Juni 5, Berlin\n",
        phrase="zu dumm, um bis drei zu zählen",
        note="Hallo zusammen,\ndie Kundin beleidigt uns. Bitte übernehmt ihr.",
    ),
    dict(
        name="fr_alternative",
        charset="utf-8", cte="quoted-printable", html=True,
        from_=("Amélie Lefèvre", "amelie.lefevre@client-fr.example"),
        to=[TEAMMATE], cc=[],
        subject="Réclamation : commande n° 58213 jamais reçue",
        date="Wed, 07 Jan 2026 11:30:00 +0100",
        body="Bonjour,\n\n"
        "Voilà trois semaines que j'attends ma commande. Votre service est une\n"
        "honte et vous êtes des incapables.\n"
        "Si je n'ai pas de réponse d'ici vendredi, je préviens la presse.\n\n"
        "Amélie Lefèvre\n",
        phrase="vous êtes des incapables",
        note="Bonjour,\ncette cliente devient insultante. Pouvez-vous prendre le relais ?",
    ),
    dict(
        name="es_recipients",
        charset="utf-8", cte="quoted-printable",
        from_=("José Ángel Núñez", "jangel.nunez@cliente-es.example"),
        to=[TEAMMATE, ("Soporte", "support@support.example")],
        cc=[("María Pérez", "maria.perez@cliente-es.example"), ("", "legal@cliente-es.example")],
        subject="¡Exijo una respuesta hoy mismo!",
        date="Thu, 08 Jan 2026 18:45:12 +0100",
        body="Señores:\n\n"
        "Es la cuarta vez que escribo. Son ustedes unos inútiles y un fraude.\n"
        "Pongo en copia a mi abogada. Mañana me presento en su oficina.\n\n"
        "José Ángel Núñez\n",
        phrase="Son ustedes unos inútiles y un fraude",
        note="Hola,\neste cliente ya amenaza a todo el equipo. ¿Lo podéis revisar?",
    ),
    dict(
        name="pl_latin2",
        charset="iso-8859-2", cte="quoted-printable",
        from_=("Wójcik, Łukasz", "lukasz.wojcik@klient-pl.example"),
        to=[TEAMMATE], cc=[],
        subject="Skarga: zepsuty ekspres, zamówienie 7781",
        date="Fri, 09 Jan 2026 08:05:33 +0100",
        body="Dzień dobry,\n\n"
        "ekspres przyszedł zepsuty, a wasz konsultant się ze mnie śmiał.\n"
        "Jesteście bandą oszustów. Żądam zwrotu pieniędzy w ciągu 24 godzin.\n\n"
        "Łukasz Wójcik\n",
        phrase="Jesteście bandą oszustów",
        note="Cześć,\nklient obraża zespół. Proszę o przejęcie sprawy.",
    ),
    dict(
        name="ru_koi8r",
        charset="koi8-r", cte="8bit",
        from_=("Дмитрий Иванов", "d.ivanov@klient-ru.example"),
        to=[TEAMMATE], cc=[],
        subject="Жалоба на обслуживание",
        date="Sat, 10 Jan 2026 13:20:00 +0300",
        body="Здравствуйте.\n\n"
        "Ваш сотрудник бросил трубку. Вы все бездельники и хамы.\n"
        "Если деньги не вернут до понедельника, я подам в суд.\n\n"
        "Дмитрий Иванов\n",
        phrase="Вы все бездельники и хамы",
        note="Коллеги,\nклиент перешёл на оскорбления. Передаю вам.",
    ),
    dict(
        name="ja_iso2022jp",
        charset="iso-2022-jp", cte="7bit",
        from_=("山田 太郎", "taro.yamada@kokyaku-jp.example"),
        to=[TEAMMATE], cc=[],
        subject="至急：注文番号3341の件",
        date="Mon, 12 Jan 2026 10:00:00 +0900",
        body="担当者様\n\n"
        "何度連絡しても返事がありません。\n"
        "あなたたちは本当に無能ですね。\n"
        "明日までに返金しなければ、SNSで公開します。\n\n"
        "山田太郎\n",
        phrase="あなたたちは本当に無能ですね。",
        note="お疲れ様です。\nお客様の言葉が攻撃的です。対応をお願いします。",
    ),
    dict(
        name="zh_gb18030",
        charset="gb18030", cte="base64",
        from_=("王小明", "xiaoming.wang@kehu-cn.example"),
        to=[TEAMMATE], cc=[],
        subject="投诉：退款至今未到账",
        date="Tue, 13 Jan 2026 09:41:27 +0800",
        body="你好，\n\n"
        "我已经等了一个月的退款。你们的客服就是一群骗子。\n"
        "如果明天还不退款，我就去消费者协会投诉你们。\n\n"
        "王小明\n",
        phrase="你们的客服就是一群骗子。",
        note="各位好，\n这位客户一直在辱骂我们，请接手处理。",
    ),
    dict(
        name="en_htmlonly",
        charset="utf-8", cte="quoted-printable", html_only=True,
        from_=("Karen Whitfield", "karen@whitfield-homes.example"),
        to=[TEAMMATE], cc=[],
        subject="This is UNACCEPTABLE",
        date="Wed, 14 Jan 2026 21:12:45 -0500",
        body="Sam,\n\n"
        "I have been a customer for six years and this is how you treat me?\n"
        "You are a pathetic excuse for a support team.\n"
        "Fix my account today or I will make sure everyone hears about it.\n\n"
        "Karen Whitfield\nWhitfield Homes\n",
        phrase="You are a pathetic excuse for a support team.",
        note="Hi leads,\nthis one crossed the line. Can one of you take it?\nThanks, Sam",
    ),
    dict(
        name="en_thread",
        charset="utf-8", cte="7bit",
        from_=("Derek Stone", "derek.stone@stone-logistics.example"),
        to=[TEAMMATE], cc=[],
        subject="Re: Your ticket #90211",
        date="Thu, 15 Jan 2026 07:58:02 +0000",
        in_reply_to="<ticket-90211.2@support.example>",
        references="<ticket-90211.1@stone-logistics.example> <ticket-90211.2@support.example>",
        body="Are you deliberately stupid or does it come naturally?\n"
        "I told you twice already. Call me before noon.\n\n"
        "Derek\n\n"
        "On Mon, 12 Jan 2026 at 10:12, Sam Carter <sam@support.example> wrote:\n"
        "> Hi Derek,\n"
        ">\n"
        "> thanks for your patience. Could you send us the tracking number?\n"
        ">\n"
        "> Sam\n"
        ">\n"
        "> On Sun, 11 Jan 2026 at 22:40, Derek Stone <derek.stone@stone-logistics.example> wrote:\n"
        ">> Where is my pallet? It was due last week.\n",
        phrase="Are you deliberately stupid or does it come naturally?",
        note="Hi leads,\nthird message like this from Derek. Forwarding the thread.",
    ),
]

# Reply originals: backstop's own emails to a lead, who answers with
# commands. "reply" is exactly what the lead types.
REPLIES = [
    dict(
        name="notice_plain",
        charset="utf-8", cte="quoted-printable",
        from_=BACKSTOP, to=[LEAD], cc=[],
        subject="New incident: Jürgen Müller, 1 message",
        date="Mon, 05 Jan 2026 10:01:00 +0000",
        body="Hi Lee,\n\n"
        "Sam Carter forwarded a conversation with a customer to backstop. Here is the\n"
        "summary; the messages themselves are further down, after a content warning.\n\n"
        "Customer:      Jürgen Müller <j.mueller@kunde-de.example>\n"
        "Organisation:  kunde-de.example\n"
        "Reported by:   Sam Carter <sam@support.example>\n"
        "Incident:      INC-12, opened 5 Jan 2026 10:00 UTC\n"
        "Messages:      1\n\n"
        "Sam Carter has been thanked and told that a lead has it, so they don't need\n"
        "to answer the customer.\n\n"
        "Reply BOUNDARY, ESCALATE <address> [name], SEVER or NOTE <text>: one word on\n"
        "the first line.\n",
        reply="SEVER",
    ),
    dict(
        name="notice_alternative",
        charset="utf-8", cte="quoted-printable", html=True,
        from_=BACKSTOP, to=[LEAD], cc=[],
        subject="Preview: boundary email to Derek Stone (INC-14)",
        date="Thu, 15 Jan 2026 08:30:00 +0000",
        body="Hi Lee,\n\n"
        "This is the boundary email backstop will send to Derek Stone\n"
        "<derek.stone@stone-logistics.example> when you reply BOUNDARY.\n\n"
        "  Dear Derek,\n"
        "  we want to help you, and we will keep doing so as long as our team is\n"
        "  treated with respect. Messages like your last one are not acceptable.\n\n"
        "Reply BOUNDARY to send it, CANCEL to drop it, or NOTE <text>.\n",
        reply="BOUNDARY\nNOTE Rückruf am Montag; er hat sich am Telefon schon entschuldigt.",
    ),
]

ORIGINALS = {o["name"]: o for o in FORWARDS + REPLIES}


def addr(name, address, charset):
    """One address as a header writes it: encoded words for a non-ASCII name,
    a quoted string for an ASCII name with specials."""
    if not name:
        return address
    try:
        name.encode("ascii")
        if any(c in name for c in ',.;:<>@"()[]\\'):
            name = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return "%s <%s>" % (name, address)
    except UnicodeEncodeError:
        return "%s <%s>" % (Header(name, charset).encode(), address)


def header_value(s, charset):
    try:
        s.encode("ascii")
        return s
    except UnicodeEncodeError:
        return Header(s, charset).encode()


def encode_body(text, charset, cte):
    raw = text.encode(charset)
    if cte == "quoted-printable":
        return quopri.encodestring(raw).decode("ascii")
    if cte == "base64":
        b = base64.b64encode(raw).decode("ascii")
        return "\n".join(b[i:i + 76] for i in range(0, len(b), 76)) + "\n"
    return raw  # 7bit, 8bit: the bytes as they are


def html_of(text):
    import html
    paras = text.strip("\n").split("\n\n")
    out = ["<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\"></head><body>"]
    for p in paras:
        out.append("<p>" + "<br>\n".join(html.escape(l) for l in p.split("\n")) + "</p>")
    out.append("</body></html>\n")
    return "\n".join(out)


def part(content_type, charset, cte, text):
    head = "Content-Type: %s; charset=%s\nContent-Transfer-Encoding: %s\n\n" % (content_type, charset, cte)
    body = encode_body(text, charset, cte)
    if isinstance(body, bytes):
        return head.encode("ascii") + body
    return (head + body).encode("ascii")


def original(o):
    """The bytes of one original, LF line ends (SMTP makes them CRLF)."""
    cs = o["charset"]
    h = []
    h.append("Date: " + o["date"])
    h.append("From: " + addr(*o["from_"], cs))
    h.append("To: " + ", ".join(addr(n, a, cs) for n, a in o["to"]))
    if o["cc"]:
        h.append("Cc: " + ", ".join(addr(n, a, cs) for n, a in o["cc"]))
    h.append("Subject: " + header_value(o["subject"], cs))
    h.append("Message-ID: <%s.original@%s>" % (o["name"].replace("_", "-"), o["from_"][1].split("@")[1]))
    if o.get("in_reply_to"):
        h.append("In-Reply-To: " + o["in_reply_to"])
        h.append("References: " + o["references"])
    h.append("MIME-Version: 1.0")
    head = ("\n".join(h) + "\n").encode("ascii")
    if o.get("html_only"):
        return head + part("text/html", cs, o["cte"], html_of(o["body"]))
    if o.get("html"):
        b = "=-alt-%s-0001" % o["name"]
        return (head + ('Content-Type: multipart/alternative; boundary="%s"\n\n'
                        "This is a multi-part message in MIME format.\n\n--%s\n" % (b, b)).encode("ascii")
                + part("text/plain", cs, o["cte"], o["body"])
                + ("\n--%s\n" % b).encode("ascii")
                + part("text/html", cs, o["cte"], html_of(o["body"]))
                + ("\n--%s--\n" % b).encode("ascii"))
    return head + part("text/plain", cs, o["cte"], o["body"])


def envelope(o):
    """Who the original is delivered to: the mailbox of the person who acts on it."""
    return TEAMMATE[1] if o in FORWARDS else LEAD[1]


def cmd_originals(d):
    for o in FORWARDS + REPLIES:
        with open("%s/%s.eml" % (d, o["name"]), "wb") as f:
            f.write(original(o))


def cmd_deliver(d, port):
    s = smtplib.SMTP("127.0.0.1", int(port))
    for o in FORWARDS + REPLIES:
        with open("%s/%s.eml" % (d, o["name"]), "rb") as f:
            s.sendmail(o["from_"][1], [envelope(o)], f.read())
    s.quit()


def imap(user, port):
    m = imaplib.IMAP4("127.0.0.1", int(port))
    m.login(user, PASSWORD)
    m.select("INBOX", readonly=True)
    return m


def uids(m):
    typ, data = m.uid("SEARCH", None, "ALL")
    return [int(x) for x in data[0].split()]


def cmd_maxuid(user, port):
    m = imap(user, port)
    print(max(uids(m), default=0))
    m.logout()


def cmd_fetch(user, port, after, out, seconds="30"):
    deadline = time.time() + float(seconds)
    while True:
        m = imap(user, port)
        new = [u for u in uids(m) if u > int(after)]
        if new:
            if len(new) > 1:
                print("fetch: %d new messages for %s, taking the last, UID %d" % (len(new), user, new[-1]), file=sys.stderr)
            typ, data = m.uid("FETCH", str(new[-1]), "(BODY.PEEK[])")
            m.logout()
            with open(out, "wb") as f:
                f.write(data[0][1])
            print(new[-1])
            return
        m.logout()
        if time.time() > deadline:
            sys.exit("fetch: nothing new for %s after UID %s within %ss" % (user, after, seconds))
        time.sleep(0.3)


def cmd_dump(user, port, d):
    m = imap(user, port)
    for u in uids(m):
        typ, data = m.uid("FETCH", str(u), "(BODY.PEEK[])")
        with open("%s/%d.eml" % (d, u), "wb") as f:
            f.write(data[0][1].replace(b"\r\n", b"\n"))
    m.logout()


# ACTIONS: what a client is told to do. Forwards name the expected note.
ACTIONS = {
    "fwd_inline": ("forward", "inline", False),
    "fwd_inline_note": ("forward", "inline", True),
    "fwd_inline_fullheaders": ("forward", "inline with every header of the original", False),
    "fwd_attach": ("forward", "attachment", False),
    "fwd_attach_note": ("forward", "attachment", True),
    "reply": ("reply", "top", None),
    "reply_bottom": ("reply", "bottom", None),
}


# CLIENT_LOSSES: where the client itself left text of the original out of
# what it sent (seen in the delivered message, not in the parser's output),
# so that no reader can find it: those fixtures check everything else.
CLIENT_LOSSES = {
    "neomutt/en_htmlonly_fwd_inline": "neomutt leaves an HTML-only body out of an inline forward (no mailcap entry for text/html)",
    "neomutt/en_htmlonly_fwd_inline_note": "neomutt leaves an HTML-only body out of an inline forward (no mailcap entry for text/html)",
    "neomutt/en_htmlonly_fwd_inline_fullheaders": "neomutt leaves an HTML-only body out of an inline forward (no mailcap entry for text/html)",
}


def cmd_expect(name, action, client, version, out):
    o = ORIGINALS[name]
    kind, how, note = ACTIONS[action]
    e = {"client": version, "original": name}
    if kind == "forward":
        e["action"] = "forward %s, %s" % (how, "note above" if note else "no note")
        e["kind"] = "forward"
        e["customer"] = {"name": o["from_"][0], "address": o["from_"][1]}
        e["subject"] = o["subject"]
        e["note"] = o["note"] if note else ""
        lost = CLIENT_LOSSES.get("%s/%s_%s" % (client, name, action))
        if lost:
            e["lost_by_client"] = lost
        else:
            e["body_contains"] = o["phrase"]
        # The originals' text has no markup: HTML must come out as text.
        e["body_excludes"] = ["<br>", "</p>"]
    else:
        e["action"] = "reply, quote %s the reply" % ("below" if how == "top" else "above")
        e["kind"] = "reply"
        e["reply_text"] = o["reply"]
    with open(out, "w", encoding="utf-8") as f:
        json.dump(e, f, ensure_ascii=False, indent=2)
        f.write("\n")


def cmd_reexpect(d):
    import glob
    import os
    for path in sorted(glob.glob(os.path.join(d, "*", "*.expect.json"))):
        client = os.path.basename(os.path.dirname(path))
        with open(path, encoding="utf-8") as f:
            old = json.load(f)
        name = old["original"]
        action = os.path.basename(path)[len(name) + 1:-len(".expect.json")]
        cmd_expect(name, action, client, old["client"], path)


def main(argv):
    cmd, args = argv[1], argv[2:]
    if cmd == "originals":
        cmd_originals(*args)
    elif cmd == "deliver":
        cmd_deliver(*args)
    elif cmd == "maxuid":
        cmd_maxuid(*args)
    elif cmd == "fetch":
        cmd_fetch(*args)
    elif cmd == "dump":
        cmd_dump(*args)
    elif cmd == "note":
        sys.stdout.write(ORIGINALS[args[0]]["note"] + "\n")
    elif cmd == "reply":
        sys.stdout.write(ORIGINALS[args[0]]["reply"] + "\n")
    elif cmd == "list":
        print("\n".join(o["name"] for o in (FORWARDS if args[0] == "forward" else REPLIES)))
    elif cmd == "reexpect":
        cmd_reexpect(*args)
    elif cmd == "expect":
        cmd_expect(*args)
    else:
        sys.exit("mail.py: unknown command " + cmd)


if __name__ == "__main__":
    main(sys.argv)
