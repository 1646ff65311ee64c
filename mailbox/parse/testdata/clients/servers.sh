# servers.sh: a loopback Postfix (SMTP) delivering over LMTP into Dovecot
# (IMAP), for generate.sh. Sourced, not run. Everything lives under $W.

: "${IMAP_PORT:=14143}" "${LMTP_PORT:=14024}" "${SMTP_PORT:=14025}"
PASSWORD=secret

# The mailboxes: the teammate who forwards, the lead who replies, and
# backstop's own address that receives both.
USERS="sam@support.example lee@support.example escalations@support.example"

start_dovecot() {
	local d=$W/dovecot
	mkdir -p "$d/run" "$d/state" "$W/mail"
	chown nobody:nogroup "$W/mail"
	: >"$d/users"
	for u in $USERS; do
		echo "$u:{PLAIN}$PASSWORD::::::" >>"$d/users"
	done
	cat >"$d/dovecot.conf" <<CONF
base_dir = $d/run
state_dir = $d/state
log_path = $d/dovecot.log
listen = 127.0.0.1
protocols = imap lmtp
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_uid = nobody
mail_gid = nogroup
first_valid_uid = 0
passdb {
  driver = passwd-file
  args = $d/users
}
userdb {
  driver = passwd-file
  args = $d/users
  default_fields = home=$W/mail/%u
}
mail_location = maildir:~/Maildir
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $IMAP_PORT
  }
  inet_listener imaps {
    port = 0
  }
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = $LMTP_PORT
  }
}
CONF
	dovecot -c "$d/dovecot.conf" </dev/null >"$d/stdout" 2>&1
}

start_postfix() {
	local p=$W/postfix
	mkdir -p "$p/conf" "$p/spool" "$p/data"
	chown postfix "$p/data"
	cat >"$p/conf/main.cf" <<CONF
compatibility_level = 3.6
queue_directory = $p/spool
data_directory = $p/data
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
shlib_directory = /usr/lib/postfix
meta_directory = /etc/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.support.example
mydomain = support.example
myorigin = support.example
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination
virtual_mailbox_domains = support.example
virtual_transport = lmtp:inet:127.0.0.1:$LMTP_PORT
maillog_file = $p/postfix.log
maillog_file_prefixes = $p
message_size_limit = 20000000
smtputf8_enable = no
alias_maps =
alias_database =
CONF
	# The Debian master.cf with chroot off and smtpd on the loopback port.
	sed -e 's/^\(\S\+\s\+\S\+\s\+\S\+\s\+\S\+\s\+\)y\(\s\)/\1n\2/' \
		-e "s/^smtp\(\s\+\)inet/127.0.0.1:$SMTP_PORT\1inet/" \
		/etc/postfix/master.cf >"$p/conf/master.cf"
	postfix -c "$p/conf" start >"$p/start.log" 2>&1
}

stop_servers() {
	[ -f "$W/postfix/conf/main.cf" ] && postfix -c "$W/postfix/conf" stop >/dev/null 2>&1
	[ -f "$W/dovecot/dovecot.conf" ] && doveadm -c "$W/dovecot/dovecot.conf" stop >/dev/null 2>&1
	return 0
}
