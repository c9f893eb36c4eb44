// Package bound resolves the limits of the options structs, where zero means
// the default and a negative value means no limit.
package bound

// Resolve returns def for zero, 0 (no limit) for a negative v, else v.
func Resolve[T ~int | ~int64](v, def T) T {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}
