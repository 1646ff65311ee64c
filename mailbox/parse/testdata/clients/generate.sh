#!/bin/bash
# generate.sh [CLIENT...]: make the client fixtures of this directory again.
#
# Starts a real mail path on 127.0.0.1 (Postfix for SMTP, delivering over
# LMTP into Dovecot for IMAP), writes the originals (originals/, from the
# tables in mail.py) and delivers them: customers' messages to the
# teammate sam@, backstop's notices to the lead lee@. Then every client
# forwards each customer message to escalations@ (inline and as an
# attachment, with and without a note above) as sam, and replies to each
# notice as lee (the lead's text above the quote, and below it). What
# escalations@ receives is fetched over IMAP byte for byte into
# CLIENT/NAME.eml, beside CLIENT/NAME.expect.json written from mail.py's
# tables (what was put in the original and what the client was told to do).
#
# CLIENT is one of: mutt neomutt s-nail nmh alpine (default: all). Run as
# root on Debian 12; installs what it needs with apt-get. The clients' dates,
# Message-IDs and boundaries change with every run, so a run rewrites every
# fixture of the clients it runs. Never edit a fixture by hand.
#
# Environment: WORK (scratch directory, default a new one under /tmp; kept
# with KEEP=1), IMAP_PORT, LMTP_PORT, SMTP_PORT (loopback ports).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
MAILPY=$HERE/mail.py
EDITOR_SH=$HERE/editor.sh
export LANG=C.UTF-8 LC_ALL=C.UTF-8

CLIENTS=${*:-mutt neomutt s-nail nmh alpine}

install_packages() {
	local need=()
	command -v dovecot >/dev/null || need+=(dovecot-imapd dovecot-lmtpd)
	command -v postfix >/dev/null || need+=(postfix)
	command -v python3 >/dev/null || need+=(python3)
	command -v script >/dev/null || need+=(bsdutils)
	command -v tmux >/dev/null || need+=(tmux)
	for c in $CLIENTS; do
		case $c in
		nmh) [ -x /usr/bin/mh/forw ] || need+=(nmh) ;;
		*) command -v "$c" >/dev/null || need+=("$c") ;;
		esac
	done
	[ ${#need[@]} -eq 0 ] && return
	# Keep the packages from starting system-wide daemons, and Postfix
	# from asking how to configure itself.
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod +x /usr/sbin/policy-rc.d
	fi
	echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}"
}

# shellcheck source=servers.sh
source "$HERE/servers.sh"

cleanup() {
	stop_servers
	[ -n "${KEEP:-}" ] || rm -rf "$W"
}

FAILED=()

# produce CLIENT VERSION NAME ACTION COMMAND...: run COMMAND (the client doing
# ACTION on the original NAME) and keep what reaches escalations@.
produce() {
	local client=$1 version=$2 name=$3 action=$4
	shift 4
	local out=$HERE/$client/${name}_$action
	[[ "${name}_$action" =~ ${ONLY:-.} ]] || return 0
	local before
	before=$(python3 "$MAILPY" maxuid escalations@support.example "$IMAP_PORT")
	mkdir -p "$HERE/$client"
	# One more try when the client fails (a timeout, once in a while); the
	# fetch takes the last message that arrived.
	if ! "$@" >"$W/$client.log" 2>&1 && ! "$@" >"$W/$client.log" 2>&1; then
		echo "generate: $client $action $name failed; see below" >&2
		tail -c 2000 "$W/$client.log" | tr -cd '[:print:]\n' >&2
		FAILED+=("$client/${name}_$action")
		return 0
	fi
	if ! python3 "$MAILPY" fetch escalations@support.example "$IMAP_PORT" "$before" "$out.eml" 20 >/dev/null; then
		FAILED+=("$client/${name}_$action (nothing delivered)")
		return 0
	fi
	python3 "$MAILPY" expect "$name" "$action" "$client" "$version" "$out.expect.json"
	echo "generate: $client/${name}_$action"
}

# edit_as MODE TEXT [TO]: what editor.sh types next ("" for nothing), and
# the address it fills into an empty To: of a draft.
edit_as() {
	export EDIT_MODE=$1 EDIT_TO=${3:-}
	printf '%s\n' "$2" >"$W/typed.txt"
	export EDIT_TEXT=$W/typed.txt
}

# --- mutt and neomutt --------------------------------------------------------
# Driven through a terminal (script) with keys pushed at start-up; the system
# configuration (/etc/Muttrc) applies, as for any Debian user.

mutt_rc() { # mutt_rc BIN USER NAME MIME_FORWARD
	local user=$2 name=$3
	cat <<RC
set folder="imap://127.0.0.1:$IMAP_PORT/"
set imap_user="$user"
set imap_pass="$PASSWORD"
set spoolfile="+INBOX"
set smtp_url="smtp://127.0.0.1:$SMTP_PORT/"
set from="$name <$user>"
set use_from=yes
set ssl_starttls=no
set ssl_force_tls=no
set editor="$EDITOR_SH"
set record=""
set postpone=no
set move=no
set quit=yes
set wait_key=no
set fast_reply=yes
set include=yes
set mime_forward=$4
set header_cache=""
RC
}

# mutt_do BIN RCFILE MSGID KEYS [FLAGS]: select the message by Message-ID,
# press KEYS.
mutt_do() {
	timeout 60 script -qec "$1 ${5:-} -F $2 -e 'push \"<limit>~i $3<enter>$4<quit>\"'" /dev/null </dev/null
}

run_mutt() { # run_mutt BIN
	local bin=$1 version
	version=$($bin -v | head -1 | sed 's/ (.*//')
	local rc=$W/$bin.rc
	for name in $FORWARDS; do
		local id=${name//_/-}.original
		for action in fwd_inline fwd_inline_note fwd_inline_fullheaders fwd_attach fwd_attach_note; do
			# fwd_inline_fullheaders: without the system configuration
			# (-n), whose "ignore *" keeps a forward to a few headers,
			# every header of the original is copied into the forward.
			local flags=""
			[ $action = fwd_inline_fullheaders ] && flags=-n
			case $action in
			fwd_inline*) mutt_rc "$bin" sam@support.example "Sam Carter" no >"$rc" ;;
			fwd_attach*) mutt_rc "$bin" sam@support.example "Sam Carter" yes >"$rc" ;;
			esac
			case $action in
			*_note) edit_as top "$(python3 "$MAILPY" note "$name")" ;;
			*) edit_as none "" ;;
			esac
			produce "$bin" "$version" "$name" "$action" \
				mutt_do "$bin" "$rc" "$id" "<forward-message>escalations@support.example<enter>y" $flags
		done
	done
	mutt_rc "$bin" lee@support.example "Lee Morgan" no >"$rc"
	for name in $REPLIES; do
		local id=${name//_/-}.original
		for action in reply reply_bottom; do
			case $action in
			reply) edit_as top "$(python3 "$MAILPY" reply "$name")" ;;
			reply_bottom) edit_as bottom "$(python3 "$MAILPY" reply "$name")" ;;
			esac
			produce "$bin" "$version" "$name" "$action" mutt_do "$bin" "$rc" "$id" "<reply>y"
		done
	done
}

# --- s-nail -------------------------------------------------------------------
# Batch mode (-#): commands and the typed text come from standard input;
# "~e" runs the editor (editor.sh) on the message being written.

snail_do() { # snail_do USER NAME COMMANDS [FLAGS...]
	local user=$1 name=$2 commands=$3
	shift 3
	printf '%s' "$commands" | timeout 60 s-nail -# -n -S v15-compat -S ttycharset=utf-8 \
		-S "mta=smtp://127.0.0.1:$SMTP_PORT" -S smtp-auth=none -S "DEAD=$W/dead.letter" \
		-S "from=$name <$user>" -S "password=$PASSWORD" -S imap-auth=login -S hold -S keep \
		-S quote -S "EDITOR=$EDITOR_SH" "$@" -f "imap://${user/@/%40}@127.0.0.1:$IMAP_PORT/INBOX"
}

run_snail() {
	local version
	version=$(s-nail -V | sed 's/,.*//')
	for name in $FORWARDS; do
		local spec="'(header message-id \"${name//_/-}.original\")'"
		local fwd="forward $spec escalations@support.example"
		local note
		note=$(python3 "$MAILPY" note "$name")
		edit_as none ""
		produce s-nail "$version" "$name" fwd_inline \
			snail_do sam@support.example "Sam Carter" "$fwd"$'\n~.\nexit\n'
		# s-nail puts the forwarded text first: the note goes above it
		# in the editor.
		edit_as top "$note"
		produce s-nail "$version" "$name" fwd_inline_note \
			snail_do sam@support.example "Sam Carter" "$fwd"$'\n~e\n~.\nexit\n'
		edit_as none ""
		produce s-nail "$version" "$name" fwd_attach \
			snail_do sam@support.example "Sam Carter" "$fwd"$'\n~.\nexit\n' -S forward-as-attachment
		produce s-nail "$version" "$name" fwd_attach_note \
			snail_do sam@support.example "Sam Carter" "$fwd"$'\n'"$note"$'\n~.\nexit\n' -S forward-as-attachment
	done
	for name in $REPLIES; do
		local spec="'(header message-id \"${name//_/-}.original\")'"
		local text
		text=$(python3 "$MAILPY" reply "$name")
		# "Reply" answers the sender only; with "quote" the original comes
		# first, quoted: typed lines go below it, the editor puts them above.
		edit_as top "$text"
		produce s-nail "$version" "$name" reply \
			snail_do lee@support.example "Lee Morgan" "Reply $spec"$'\n~e\n~.\nexit\n'
		edit_as none ""
		produce s-nail "$version" "$name" reply_bottom \
			snail_do lee@support.example "Lee Morgan" "Reply $spec"$'\n'"$text"$'\n~.\nexit\n'
	done
}

# --- nmh -----------------------------------------------------------------------
# The MH way: the mailbox is incorporated into an MH folder (rcvstore, from
# the IMAP INBOX with LF line ends, as inc writes them); forw and repl write
# a draft, run the editor (editor.sh, which fills in To: as the person
# would), and whatnow reads "send" (after "mime" for mhbuild directives)
# from standard input.

nmh_home() { # nmh_home USER NAME: an MH profile with USER's mail; prints its home
	local h=$W/nmh/${1%@*}
	mkdir -p "$h/Mail/inbox" "$h/Mail/outbox" "$h/fetched"
	cat >"$h/.mh_profile" <<PROFILE
Path: Mail
Local-Mailbox: $2 <$1>
send: -mts smtp -server 127.0.0.1 -port $SMTP_PORT -notls
PROFILE
	echo "Current-Folder: inbox" >"$h/Mail/context"
	python3 "$MAILPY" dump "$1" "$IMAP_PORT" "$h/fetched"
	for f in $(ls "$h/fetched" | sort -n); do
		MH=$h/.mh_profile HOME=$h /usr/lib/mh/rcvstore +inbox <"$h/fetched/$f"
	done
	echo "$h"
}

nmh_do() { # nmh_do HOME WHATNOW COMMAND...: run an nmh command as the user of HOME
	local h=$1 answers=$2
	shift 2
	printf '%s' "$answers" | HOME=$h MH=$h/.mh_profile PATH=/usr/bin/mh:$PATH timeout 60 "$@"
}

run_nmh() {
	local version sam lee
	sam=$(nmh_home sam@support.example "Sam Carter")
	lee=$(nmh_home lee@support.example "Lee Morgan")
	version=$(HOME=$sam MH=$sam/.mh_profile /usr/bin/mh/forw -version | sed 's/^forw -- \(nmh-[^ ]*\).*/\1/')
	local to=escalations@support.example
	for name in $FORWARDS; do
		local n note
		n=$(HOME=$sam MH=$sam/.mh_profile /usr/bin/mh/pick +inbox --message-id "${name//_/-}.original")
		note=$(python3 "$MAILPY" note "$name")
		edit_as none "" $to
		produce nmh "$version" "$name" fwd_inline \
			nmh_do "$sam" $'send\n' /usr/bin/mh/forw -editor "$EDITOR_SH" +inbox "$n"
		edit_as below-headers "$note" $to
		produce nmh "$version" "$name" fwd_inline_note \
			nmh_do "$sam" $'send\n' /usr/bin/mh/forw -editor "$EDITOR_SH" +inbox "$n"
		edit_as none "" $to
		produce nmh "$version" "$name" fwd_attach \
			nmh_do "$sam" $'mime\nsend\n' /usr/bin/mh/forw -mime -editor "$EDITOR_SH" +inbox "$n"
		edit_as below-headers "$note" $to
		produce nmh "$version" "$name" fwd_attach_note \
			nmh_do "$sam" $'mime\nsend\n' /usr/bin/mh/forw -mime -editor "$EDITOR_SH" +inbox "$n"
	done
	for name in $REPLIES; do
		local n text
		n=$(HOME=$lee MH=$lee/.mh_profile /usr/bin/mh/pick +inbox --message-id "${name//_/-}.original")
		text=$(python3 "$MAILPY" reply "$name")
		edit_as below-headers "$text"
		produce nmh "$version" "$name" reply \
			nmh_do "$lee" $'send\n' /usr/bin/mh/repl -filter mhl.reply -editor "$EDITOR_SH" +inbox "$n"
		edit_as bottom "$text"
		produce nmh "$version" "$name" reply_bottom \
			nmh_do "$lee" $'send\n' /usr/bin/mh/repl -filter mhl.reply -editor "$EDITOR_SH" +inbox "$n"
	done
}

main() {
	install_packages
	W=${WORK:-$(mktemp -d /tmp/backstop-clients.XXXXXX)}
	mkdir -p "$W"
	chmod 755 "$W"
	trap cleanup EXIT
	start_dovecot
	start_postfix
	mkdir -p "$HERE/originals"
	python3 "$MAILPY" originals "$HERE/originals"
	python3 "$MAILPY" deliver "$HERE/originals" "$SMTP_PORT"
	FORWARDS=$(python3 "$MAILPY" list forward)
	REPLIES=$(python3 "$MAILPY" list reply)
	# Wait until the originals are in their mailboxes.
	local i s l
	for i in $(seq 50); do
		s=$(python3 "$MAILPY" maxuid sam@support.example "$IMAP_PORT")
		l=$(python3 "$MAILPY" maxuid lee@support.example "$IMAP_PORT")
		[ "$s" -ge "$(echo "$FORWARDS" | wc -l)" ] && [ "$l" -ge "$(echo "$REPLIES" | wc -l)" ] && break
		sleep 0.2
	done

	for client in $CLIENTS; do
		case $client in
		nmh) run_nmh ;;
		mutt | neomutt) run_mutt "$client" ;;
		s-nail) run_snail ;;
		*) echo "generate: unknown client $client" >&2; exit 2 ;;
		esac
	done

	if [ ${#FAILED[@]} -gt 0 ]; then
		printf 'generate: failed: %s\n' "${FAILED[@]}" >&2
		exit 1
	fi
}

# Bash reads a script as it runs it: everything above is read before main runs,
# so editing this file during a run cannot break the run.
main "$@"
