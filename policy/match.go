package policy

import (
	"fmt"
	"path"
	"regexp"
	"strings"
)

// matcher matches the names of one kind that one rule entry names.
type matcher struct {
	source string
	match  func(string) bool
}

type matchers []matcher

func (ms matchers) match(name string) bool {
	for _, m := range ms {
		if m.match(name) {
			return true
		}
	}
	return false
}

// compileMatcher compiles one name of a rule: for tools and prompts a
// name or a path.Match pattern, for resources a URI prefix or a URI
// template.
func compileMatcher(k Kind, source string) (matcher, error) {
	if source == "" {
		return matcher{}, fmt.Errorf("an empty %s name", k)
	}
	if k != Resource {
		if _, err := path.Match(source, ""); err != nil {
			return matcher{}, fmt.Errorf("%s pattern %q: %w", k, source, err)
		}
		meta := strings.IndexAny(source, `*?[\`)
		if meta < 0 {
			return matcher{source, func(name string) bool { return name == source }}, nil
		}
		// The literal part before the first special character rejects
		// most names without a match.
		lit := source[:meta]
		return matcher{source, func(name string) bool {
			if !strings.HasPrefix(name, lit) {
				return false
			}
			ok, _ := path.Match(source, name)
			return ok
		}}, nil
	}
	if !strings.ContainsAny(source, "{}") {
		return matcher{source, func(uri string) bool { return strings.HasPrefix(uri, source) }}, nil
	}
	re, err := templateRegexp(source)
	if err != nil {
		return matcher{}, fmt.Errorf("resource template %q: %w", source, err)
	}
	// A template also matches itself, as resources/templates/list shows it;
	// its literal start rejects most URIs without the regexp.
	lit := source[:strings.IndexByte(source, '{')]
	return matcher{source, func(uri string) bool {
		return uri == source || strings.HasPrefix(uri, lit) && re.MatchString(uri)
	}}, nil
}

// templateRegexp compiles a URI template of the forms {x} (one or more
// characters other than "/") and {+x} (one or more of any) to a regexp that
// matches a whole URI.
func templateRegexp(t string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("^")
	for t != "" {
		open := strings.IndexByte(t, '{')
		if open < 0 {
			if strings.ContainsRune(t, '}') {
				return nil, fmt.Errorf("a } without its {")
			}
			b.WriteString(regexp.QuoteMeta(t))
			break
		}
		if strings.ContainsRune(t[:open], '}') {
			return nil, fmt.Errorf("a } without its {")
		}
		b.WriteString(regexp.QuoteMeta(t[:open]))
		end := strings.IndexByte(t[open:], '}')
		if end < 0 {
			return nil, fmt.Errorf("a { without its }")
		}
		v := t[open+1 : open+end]
		switch {
		case strings.HasPrefix(v, "+") && len(v) > 1:
			b.WriteString(".+")
		case v != "" && !strings.ContainsAny(v, "{+#./;?&"):
			b.WriteString("[^/]+")
		default:
			return nil, fmt.Errorf("expression {%s}: only {name} and {+name}", v)
		}
		t = t[open+end+1:]
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}
