package platform

import "testing"

func TestEveryPlatformIsComplete(t *testing.T) {
	for _, name := range DeviceTypes() {
		p, err := Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		if p.DeviceType != name || p.Vendor == "" || p.OS == "" || len(p.Commands) == 0 {
			t.Errorf("%s: incomplete platform %+v", name, p)
		}
		seen := map[Kind]bool{}
		for _, c := range p.Commands {
			if seen[c.Kind] {
				t.Errorf("%s: two commands for %s", name, c.Kind)
			}
			seen[c.Kind] = true
			if c.Command == "" || (c.Format != FormatJSON && c.Format != FormatXML && c.Format != FormatText) {
				t.Errorf("%s: bad command %+v", name, c)
			}
			if _, missing := p.Missing[c.Kind]; missing {
				t.Errorf("%s: %s is both collected and declared missing", name, c.Kind)
			}
		}
		if _, ok := p.Command(KindVersion); !ok {
			t.Errorf("%s: no version command (the device's identity comes from it)", name)
		}
	}
	if _, err := Lookup("cisco_ioss"); err == nil {
		t.Error("Lookup of an unknown device type gave no error")
	}
}

func TestTheInventoryDeviceTypesAreAllSupported(t *testing.T) {
	// The device types the inventory format documents (Netmiko's names).
	for _, name := range []string{"cisco_ios", "cisco_xe", "cisco_nxos", "arista_eos", "juniper_junos", "paloalto_panos", "fortinet", "cisco_asa", "cisco_ftd", "aruba_os", "checkpoint_gaia"} {
		if _, err := Lookup(name); err != nil {
			t.Error(err)
		}
	}
}
