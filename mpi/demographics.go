package mpi

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// NormalizeName is the normal form of the names and address lines that
// demographic match keys hash: Unicode NFKC (so full-width and ligature
// forms match their plain letters), lower case, leading and trailing space
// trimmed and inner runs of white space collapsed to one space. Accents
// are kept ("Müller" and "Muller" differ), as is punctuation.
func NormalizeName(s string) string {
	return strings.Join(strings.Fields(strings.ToLower(norm.NFKC.String(s))), " ")
}

// NormalizePostalCode is NormalizeName without any white space
// ("SW1A 1AA" and "sw1a1aa" match).
func NormalizePostalCode(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, NormalizeName(s))
}
