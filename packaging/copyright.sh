#!/bin/sh
# copyright.sh BINARY...: write the Debian copyright file (DEP-5) for the
# packages to stdout: packaging/copyright.head, then one paragraph for Go's
# standard library and one for every module linked into BINARY, with the
# module's own license text, so a dependency added later is covered without
# anyone remembering to list it.
set -eu
here=$(dirname "$0")
cat "$here/copyright.head"

# license_of FILE: a DEP-5 short name for the license text in FILE.
license_of() {
	if grep -q 'Apache License' "$1" && grep -q 'Version 2.0' "$1"; then
		echo Apache-2.0
	elif grep -q 'Mozilla Public License' "$1" && grep -q 'Version 2.0' "$1"; then
		echo MPL-2.0
	elif grep -q 'Permission is hereby granted, free of charge' "$1"; then
		echo Expat
	elif grep -q 'Redistribution and use' "$1" && grep -q 'Neither the name' "$1"; then
		echo BSD-3-clause
	elif grep -q 'Redistribution and use' "$1"; then
		echo BSD-2-clause
	elif grep -q 'ISC License\|Permission to use, copy, modify, and/or distribute' "$1"; then
		echo ISC
	else
		echo other
	fi
}

# paragraph FILES DIR: the paragraph for the module (or Go) whose source is DIR.
paragraph() {
	lic=
	for f in "$2"/LICENSE "$2"/LICENSE.* "$2"/LICENCE "$2"/COPYING "$2"/license; do
		if [ -f "$f" ]; then lic=$f; break; fi
	done
	if [ -z "$lic" ]; then
		echo "copyright.sh: no license file in $2" >&2
		exit 1
	fi
	name=$(license_of "$lic")
	holders=$(grep -h -i '^[[:space:]]*copyright[[:space:]]*\(([cC])\|[0-9]\)' "$lic" "$2"/NOTICE 2>/dev/null |
		sed 's/^[[:space:]]*[Cc]opyright[[:space:]]*\(([cC])[[:space:]]*\)\{0,1\}//' | sort -u) || true
	[ -n "$holders" ] || holders="the $1 authors"
	printf '\nFiles: %s/*\n' "$1"
	printf 'Copyright:'
	echo "$holders" | sed 's/^/ /'
	case $name in
	Apache-2.0 | MPL-2.0)
		printf 'License: %s\n On Debian systems, the full text of the license is in\n /usr/share/common-licenses/%s.\n' "$name" "$name"
		;;
	*)
		# Expat and BSD texts are not in common-licenses and carry their
		# own copyright lines: each text in full, once. The same name with
		# another text gets the module's name added, to stay unique.
		text=$(sed -e 's/[[:space:]]*$//' -e 's/^$/./' -e 's/^/ /' "$lic" | sed -e '1{/^ \.$/d}' -e '${/^ \.$/d}')
		[ "$name" != other ] || name=license
		for n in "$name" "$name-$(echo "$1" | tr -c 'A-Za-z0-9.\n' -)"; do
			if [ ! -f "$seen/$n" ]; then
				printf '%s\n' "$text" >"$seen/$n"
				printf 'License: %s\n%s\n' "$n" "$text"
				break
			elif [ "$(cat "$seen/$n")" = "$text" ]; then
				printf 'License: %s\n' "$n"
				break
			fi
		done
		;;
	esac
}

seen=$(mktemp -d)
trap 'rm -rf "$seen"' EXIT
paragraph "go" "$(go env GOROOT)"
go version -m "$@" | awk '$1 == "dep" { print $2 "@" $3 }' | sort -u | while read -r mod; do
	dir=$(go mod download -json "$mod" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
	paragraph "${mod%@*}" "$dir"
done
