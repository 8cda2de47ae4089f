// go-folds.go - list the non-ASCII runes that Go's encoding/json would match
// to an ASCII letter of a field name, for rewrite.c's go_ascii_folds table.
//
// Go 1.21+ folds a key rune to the smallest rune of its unicode.SimpleFold
// orbit (encoding/json fold.go); older decoders accepted only U+017F and
// U+212A. This walks every orbit with the unicode tables of the Go it runs
// on (go run tests/unit/go-folds.go); run with Go 1.19 (Unicode 13.0.0):
//
//	U+017F folds with 's'
//	U+212A folds with 'k'
//
// test_rewrite.c's key_folds_every_rune checks rewrite_key_folds_to against
// exactly this list, for every rune.
package main

import (
	"fmt"
	"unicode"
)

// orbitMin is the smallest rune of r's simple case-folding orbit.
func orbitMin(r rune) rune {
	min := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		if f < min {
			min = f
		}
	}
	return min
}

func main() {
	fmt.Printf("// Unicode %s\n", unicode.Version)
	for r := rune(0x80); r <= unicode.MaxRune; r++ {
		if m := orbitMin(r); m < 0x80 && unicode.IsLetter(m) {
			fmt.Printf("%U folds with %q\n", r, unicode.ToLower(m))
		}
	}
}
