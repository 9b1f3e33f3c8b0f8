package store_test

import (
	"testing"

	"github.com/pregon/pregon/store"
)

// TestInQuietHours: a campaign's own window overrides the workspace's quiet hours; the launch
// plan warns when it sends inside them.
func TestInQuietHours(t *testing.T) {
	defaults := store.WorkspaceSettings{} // quiet 20:00–08:00
	for _, tc := range []struct {
		name     string
		settings store.WorkspaceSettings
		window   store.SendWindow
		want     bool
	}{
		{"NoWindowOfItsOwn", defaults, store.SendWindow{}, false},
		{"AllDay", defaults, store.SendWindow{Start: "00:00", End: "00:00"}, true},
		{"OfficeHours", defaults, store.SendWindow{Start: "09:00", End: "18:00"}, false},
		{"IntoTheEvening", defaults, store.SendWindow{Start: "18:00", End: "21:00"}, true},
		{"EarlyMorning", defaults, store.SendWindow{Start: "07:30", End: "10:00"}, true},
		{"ExactlyTheDay", defaults, store.SendWindow{Start: "08:00", End: "20:00"}, false},
		{"NoQuietHours", store.NoQuietHours, store.SendWindow{Start: "00:00", End: "00:00"}, false},
	} {
		if got := tc.settings.InQuietHours(tc.window); got != tc.want {
			t.Errorf("%s: InQuietHours(%+v) = %v, want %v", tc.name, tc.window, got, tc.want)
		}
	}
}
