#!/bin/bash
# editor.sh FILE: the person at the keyboard. Clients run it as their editor
# on the body (or the whole draft) of a forward or reply. What it types comes
# from $EDIT_TEXT (a file); where, from $EDIT_MODE:
#   none     leave the draft as the client wrote it
#   top      type the text at the top, a blank line below it
#   bottom   type the text at the end, a blank line above it
#   below-headers  (drafts with a header: nmh, s-nail's editheaders) type
#            at the top of the body, after the blank or "--------" line
#            that ends the draft's header
# $EDIT_GAP=0 leaves out the blank line between the typed text and the
# client's text (typed directly above "On … wrote:" or a forward's header).
# $EDIT_TO, if set, fills an empty "To:" header of a draft (nmh forw).
# A client that stays open across several actions (alpine) runs the editor
# with $EDIT_ENV, a file that sets these variables for the current action.
set -eu
[ -n "${EDIT_ENV:-}" ] && . "$EDIT_ENV"
f=${!#}
mode=${EDIT_MODE:-none}
gap=${EDIT_GAP:-1}
blank() { [ "$gap" = 0 ] || echo; }
[ -n "${EDIT_LOG:-}" ] && cp "$f" "$EDIT_LOG"
tmp=$f.editor.$$
case $mode in
none) ;;
top) { cat "$EDIT_TEXT"; blank; cat "$f"; } >"$tmp" && cat "$tmp" >"$f" ;;
bottom) { cat "$f"; [ -n "$(tail -c1 "$f")" ] && echo; echo; cat "$EDIT_TEXT"; } >"$tmp" && cat "$tmp" >"$f" ;;
below-headers)
	awk -v text="$EDIT_TEXT" -v gap="$gap" '
		!done && /^-*$/ { print; while ((getline l < text) > 0) print l; if (gap) print ""; done = 1; next }
		{ print }' "$f" >"$tmp" && cat "$tmp" >"$f" ;;
*) echo "editor.sh: unknown EDIT_MODE $mode" >&2; exit 1 ;;
esac
if [ -n "${EDIT_TO:-}" ]; then
	sed -i "0,/^To:[[:space:]]*$/s//To: $EDIT_TO/" "$f"
fi
rm -f "$tmp"
