package parse

import (
	"strings"
	"testing"
)

// TestLanguageTable checks the rows of languages: one row per language,
// and no label standing for two different fields (a block would be misread
// in one of the two languages).
func TestLanguageTable(t *testing.T) {
	codes := map[string]bool{}
	fieldOf := map[string]blockField{}
	langOf := map[string]string{}
	for _, l := range languages {
		if l.code == "" || codes[l.code] {
			t.Errorf("language %q: empty or listed twice", l.code)
		}
		codes[l.code] = true
		for _, f := range []struct {
			field  blockField
			labels []string
		}{{fieldFrom, l.from}, {fieldTo, l.to}, {fieldCc, l.cc}, {fieldBcc, l.bcc}, {fieldDate, l.date},
			{fieldSubject, l.subject}, {fieldOther, l.other}} {
			for _, label := range f.labels {
				k := strings.ToLower(label)
				if k != label && k != lowerText(label) {
					t.Errorf("%s: label %q is not lower-case", l.code, label)
				}
				if prev, ok := fieldOf[k]; ok && prev != f.field {
					t.Errorf("label %q is field %d in %s and field %d in %s", k, prev, langOf[k], f.field, l.code)
				}
				fieldOf[k], langOf[k] = f.field, l.code
			}
		}
	}
}
