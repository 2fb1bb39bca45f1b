package identity

import "testing"

func TestIsReserved(t *testing.T) {
	for _, name := range []string{"X-Meshq-User", "x-meshq-role", "X_MESHQ_GRANTS", "x_Meshq-user", "X-MESHQ", "x-meshq-anything-else"} {
		if !IsReserved(name) {
			t.Errorf("IsReserved(%q) = false, want true", name)
		}
	}
	for _, name := range []string{"X-Mesh-User", "X-Request-Id", "", "X-Meshy", "Meshq-User"} {
		if IsReserved(name) {
			t.Errorf("IsReserved(%q) = true, want false", name)
		}
	}
}

func FuzzIsReserved(f *testing.F) {
	f.Add("X-Meshq-User")
	f.Add("x_meshq_role")
	f.Fuzz(func(t *testing.T, name string) {
		got := IsReserved(name)
		norm := []byte(name)
		for i, c := range norm {
			if 'A' <= c && c <= 'Z' {
				norm[i] = c + 32
			} else if c == '_' {
				norm[i] = '-'
			}
		}
		want := len(norm) >= 7 && string(norm[:7]) == "x-meshq"
		if got != want {
			t.Errorf("IsReserved(%q) = %v, want %v", name, got, want)
		}
	})
}
