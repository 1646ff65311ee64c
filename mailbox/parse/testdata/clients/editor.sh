#!/bin/bash
# editor.sh FILE: the person at the keyboard. Clients run it as their editor
# on the body (or the whole draft) of a forward or reply. What it types comes
# from $EDIT_TEXT (a file); where, from $EDIT_MODE:
#   none     leave the draft as the client wrote it
#   top      type the text at the top, a blank line below it
#   bottom   type the text at the end, a blank line above it
#   below-headers  (nmh drafts) type at the top of the body, after the
#            "--------" line that ends the draft's header
# $EDIT_TO, if set, fills an empty "To:" header of a draft (nmh forw).
set -eu
f=${!#}
mode=${EDIT_MODE:-none}
[ -n "${EDIT_LOG:-}" ] && cp "$f" "$EDIT_LOG"
tmp=$f.editor.$$
case $mode in
none) ;;
top) { cat "$EDIT_TEXT"; echo; cat "$f"; } >"$tmp" && cat "$tmp" >"$f" ;;
bottom) { cat "$f"; [ -n "$(tail -c1 "$f")" ] && echo; echo; cat "$EDIT_TEXT"; } >"$tmp" && cat "$tmp" >"$f" ;;
below-headers)
	awk -v text="$EDIT_TEXT" '
		!done && /^-*$/ { print; while ((getline l < text) > 0) print l; print ""; done = 1; next }
		{ print }' "$f" >"$tmp" && cat "$tmp" >"$f" ;;
*) echo "editor.sh: unknown EDIT_MODE $mode" >&2; exit 1 ;;
esac
if [ -n "${EDIT_TO:-}" ]; then
	sed -i "0,/^To:[[:space:]]*$/s//To: $EDIT_TO/" "$f"
fi
rm -f "$tmp"
