package suzieq

// The row types below are SuzieQ's tables as its schema files
// (suzieq/config/schema/*.avsc, suzieq 0.25) define them, less what SuzieQ
// never stores: the partition columns (sqvers, namespace and hostname,
// which are directory names) and the fields marked "depends" (computed
// when read, such as portmode, vlanList, prefixlen, numNexthops). The
// types are those of SuzieQ's own Avro-to-Arrow mapping: long is int64,
// int is int32, timestamp is int64 milliseconds since the epoch,
// timedelta64[s] is float64. Columns are written as required (no nulls):
// SuzieQ fills every missing value with a default before it writes, so its
// readers never see one either.
//
// Hostname is a column only in the coalesced layout; in the poller's
// layout it is the hostname= directory and is dropped from the file.

// deviceRow is table device (sqvers 4.0).
type deviceRow struct {
	Architecture    string  `parquet:"architecture"`
	Memory          int32   `parquet:"memory"`
	Reason          string  `parquet:"reason"`
	Status          string  `parquet:"status"`
	Address         string  `parquet:"address"`
	Model           string  `parquet:"model"`
	Vendor          string  `parquet:"vendor"`
	Version         string  `parquet:"version"`
	BootupTimestamp float64 `parquet:"bootupTimestamp"`
	OS              string  `parquet:"os"`
	SerialNumber    string  `parquet:"serialNumber"`
	DeviceSession   int64   `parquet:"deviceSession"`
	Hostname        string  `parquet:"hostname"`
	Timestamp       int64   `parquet:"timestamp"`
	Active          bool    `parquet:"active"`
}

// interfaceRow is table interfaces (sqvers 4.0); table address is derived
// from it by SuzieQ and has no files of its own.
type interfaceRow struct {
	IfIndex               int64    `parquet:"ifindex"`
	Reason                string   `parquet:"reason"`
	RouteDistinguisher    string   `parquet:"routeDistinguisher"`
	MACAddr               string   `parquet:"macaddr"`
	InterfaceMAC          string   `parquet:"interfaceMac"`
	Type                  string   `parquet:"type"`
	Description           string   `parquet:"description"`
	NumChanges            int64    `parquet:"numChanges"`
	Speed                 int64    `parquet:"speed"`
	VLAN                  int32    `parquet:"vlan"`
	InnerVLAN             int32    `parquet:"innerVlan"`
	VLANName              string   `parquet:"vlanName"`
	IPAddressList         []string `parquet:"ipAddressList,list"`
	SrcVtepIP             string   `parquet:"srcVtepIp"`
	State                 string   `parquet:"state"`
	AdminState            string   `parquet:"adminState"`
	Master                string   `parquet:"master"`
	IfName                string   `parquet:"ifname"`
	StatusChangeTimestamp float64  `parquet:"statusChangeTimestamp"`
	VNI                   int32    `parquet:"vni"`
	IP6AddressList        []string `parquet:"ip6AddressList,list"`
	LACPBypass            bool     `parquet:"lacpBypass"`
	MTU                   int64    `parquet:"mtu"`
	DeviceSession         int64    `parquet:"deviceSession"`
	Hostname              string   `parquet:"hostname"`
	Timestamp             int64    `parquet:"timestamp"`
	Active                bool     `parquet:"active"`
}

// arpndRow is table arpnd (sqvers 2.0).
type arpndRow struct {
	State         string `parquet:"state"`
	IPAddress     string `parquet:"ipAddress"`
	OIF           string `parquet:"oif"`
	Remote        bool   `parquet:"remote"`
	MACAddr       string `parquet:"macaddr"`
	DeviceSession int64  `parquet:"deviceSession"`
	Hostname      string `parquet:"hostname"`
	Timestamp     int64  `parquet:"timestamp"`
	Active        bool   `parquet:"active"`
}

// macRow is table macs (sqvers 2.0).
type macRow struct {
	OIF           string `parquet:"oif"`
	MACAddr       string `parquet:"macaddr"`
	MACKey        string `parquet:"mackey"`
	Protocol      string `parquet:"protocol"`
	BD            string `parquet:"bd"`
	VLAN          int64  `parquet:"vlan"`
	RemoteVtepIP  string `parquet:"remoteVtepIp"`
	Flags         string `parquet:"flags"`
	DeviceSession int64  `parquet:"deviceSession"`
	Hostname      string `parquet:"hostname"`
	Timestamp     int64  `parquet:"timestamp"`
	Active        bool   `parquet:"active"`
}

// lldpRow is table lldp (sqvers 2.0).
type lldpRow struct {
	Description   string `parquet:"description"`
	PeerIfName    string `parquet:"peerIfname"`
	PeerIfIndex   int64  `parquet:"peerIfindex"`
	PeerMACAddr   string `parquet:"peerMacaddr"`
	MgmtIP        string `parquet:"mgmtIP"`
	PeerHostname  string `parquet:"peerHostname"`
	Subtype       string `parquet:"subtype"`
	IfName        string `parquet:"ifname"`
	DeviceSession int64  `parquet:"deviceSession"`
	Hostname      string `parquet:"hostname"`
	Timestamp     int64  `parquet:"timestamp"`
	Active        bool   `parquet:"active"`
}

// routeRow is table routes (sqvers 3.0): one row per VRF and prefix, its
// equal-cost next hops in the parallel lists nexthopIps, oifs and weights.
type routeRow struct {
	Weights               []int64  `parquet:"weights,list"`
	Prefix                string   `parquet:"prefix"`
	OIFs                  []string `parquet:"oifs,list"`
	NexthopIPs            []string `parquet:"nexthopIps,list"`
	Source                string   `parquet:"source"`
	Action                string   `parquet:"action"`
	RouteTag              string   `parquet:"routeTag"`
	ASPathList            []string `parquet:"asPathList,list"`
	VRF                   string   `parquet:"vrf"`
	ValidState            string   `parquet:"validState"`
	IPVers                int64    `parquet:"ipvers"`
	Protocol              string   `parquet:"protocol"`
	HardwareProgrammed    string   `parquet:"hardwareProgrammed"`
	Metric                int64    `parquet:"metric"`
	StatusChangeTimestamp int64    `parquet:"statusChangeTimestamp"`
	Preference            int64    `parquet:"preference"`
	DeviceSession         int64    `parquet:"deviceSession"`
	Hostname              string   `parquet:"hostname"`
	Timestamp             int64    `parquet:"timestamp"`
	Active                bool     `parquet:"active"`
}

// bgpRow is table bgp (sqvers 3.0): one row per session and address
// family.
type bgpRow struct {
	Peer             string   `parquet:"peer"`
	OrigPeer         string   `parquet:"origPeer"`
	AFI              string   `parquet:"afi"`
	SAFI             string   `parquet:"safi"`
	AFIsAdvOnly      []string `parquet:"afisAdvOnly,list"`
	AFIsRcvOnly      []string `parquet:"afisRcvOnly,list"`
	PfxRx            int64    `parquet:"pfxRx"`
	PfxTx            int64    `parquet:"pfxTx"`
	PfxBestRx        int64    `parquet:"pfxBestRx"`
	PfxWithdrawnRx   int64    `parquet:"pfxWithdrawnRx"`
	PfxSuppressRx    int64    `parquet:"pfxSuppressRx"`
	PfxMaxRx         int64    `parquet:"pfxMaxRx"`
	PfxWarnPercent   int64    `parquet:"pfxWarnPercent"`
	HopsMax          int64    `parquet:"hopsMax"`
	AdvertiseAllVNIs bool     `parquet:"advertiseAllVnis"`
	EgressRmap       string   `parquet:"egressRmap"`
	IngressRmap      string   `parquet:"ingressRmap"`
	SoftReconfig     bool     `parquet:"softReconfig"`
	CommunityTypes   []string `parquet:"communityTypes,list"`
	DefOriginate     bool     `parquet:"defOriginate"`
	KeepaliveTime    int64    `parquet:"keepaliveTime"`
	EstdTime         float64  `parquet:"estdTime"`
	UpdateSource     string   `parquet:"updateSource"`
	HoldTime         int64    `parquet:"holdTime"`
	UpdatesRx        int64    `parquet:"updatesRx"`
	UpdatesTx        int64    `parquet:"updatesTx"`
	PeerHostname     string   `parquet:"peerHostname"`
	VRF              string   `parquet:"vrf"`
	NumChanges       int64    `parquet:"numChanges"`
	PeerRouterID     string   `parquet:"peerRouterId"`
	RouterID         string   `parquet:"routerId"`
	BFDStatus        string   `parquet:"bfdStatus"`
	NHUnchanged      bool     `parquet:"nhUnchanged"`
	NHSelf           bool     `parquet:"nhSelf"`
	RRClient         string   `parquet:"rrclient"`
	ASN              int64    `parquet:"asn"`
	NotificnReason   string   `parquet:"notificnReason"`
	ExtnhAdvertised  bool     `parquet:"extnhAdvertised"`
	ExtnhReceived    bool     `parquet:"extnhReceived"`
	ExtnhEnabled     bool     `parquet:"extnhEnabled"`
	PeerASN          int64    `parquet:"peerAsn"`
	PeerIP           string   `parquet:"peerIP"`
	MRAI             int64    `parquet:"mrai"`
	State            string   `parquet:"state"`
	Reason           string   `parquet:"reason"`
	LastDownTime     int64    `parquet:"lastDownTime"`
	IfName           string   `parquet:"ifname"`
	DeviceSession    int64    `parquet:"deviceSession"`
	Hostname         string   `parquet:"hostname"`
	Timestamp        int64    `parquet:"timestamp"`
	Active           bool     `parquet:"active"`
}

// vlanRow is table vlan (sqvers 3.0).
type vlanRow struct {
	Interfaces    []string `parquet:"interfaces,list"`
	VLAN          int64    `parquet:"vlan"`
	VLANName      string   `parquet:"vlanName"`
	State         string   `parquet:"state"`
	DeviceSession int64    `parquet:"deviceSession"`
	Hostname      string   `parquet:"hostname"`
	Timestamp     int64    `parquet:"timestamp"`
	Active        bool     `parquet:"active"`
}
