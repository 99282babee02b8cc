package wbxml

import "strconv"

// Code pages used by a Ping client (MS-ASWBXML section 2.1.2.1).
const (
	PageAirSync         = 0
	PageFolderHierarchy = 7
	PagePing            = 13
)

// AirSync (code page 0): the tags of a Sync command.
const (
	AirSyncSync              Tag = PageAirSync<<8 | 0x05
	AirSyncResponses         Tag = PageAirSync<<8 | 0x06
	AirSyncAdd               Tag = PageAirSync<<8 | 0x07
	AirSyncChange            Tag = PageAirSync<<8 | 0x08
	AirSyncDelete            Tag = PageAirSync<<8 | 0x09
	AirSyncFetch             Tag = PageAirSync<<8 | 0x0a
	AirSyncSyncKey           Tag = PageAirSync<<8 | 0x0b
	AirSyncClientID          Tag = PageAirSync<<8 | 0x0c
	AirSyncServerID          Tag = PageAirSync<<8 | 0x0d
	AirSyncStatus            Tag = PageAirSync<<8 | 0x0e
	AirSyncCollection        Tag = PageAirSync<<8 | 0x0f
	AirSyncClass             Tag = PageAirSync<<8 | 0x10
	AirSyncCollectionID      Tag = PageAirSync<<8 | 0x12
	AirSyncGetChanges        Tag = PageAirSync<<8 | 0x13
	AirSyncMoreAvailable     Tag = PageAirSync<<8 | 0x14
	AirSyncWindowSize        Tag = PageAirSync<<8 | 0x15
	AirSyncCommands          Tag = PageAirSync<<8 | 0x16
	AirSyncOptions           Tag = PageAirSync<<8 | 0x17
	AirSyncFilterType        Tag = PageAirSync<<8 | 0x18
	AirSyncConflict          Tag = PageAirSync<<8 | 0x1b
	AirSyncCollections       Tag = PageAirSync<<8 | 0x1c
	AirSyncApplicationData   Tag = PageAirSync<<8 | 0x1d
	AirSyncDeletesAsMoves    Tag = PageAirSync<<8 | 0x1e
	AirSyncSupported         Tag = PageAirSync<<8 | 0x20
	AirSyncSoftDelete        Tag = PageAirSync<<8 | 0x21
	AirSyncMIMESupport       Tag = PageAirSync<<8 | 0x22
	AirSyncMIMETruncation    Tag = PageAirSync<<8 | 0x23
	AirSyncWait              Tag = PageAirSync<<8 | 0x24
	AirSyncLimit             Tag = PageAirSync<<8 | 0x25
	AirSyncPartial           Tag = PageAirSync<<8 | 0x26
	AirSyncConversationMode  Tag = PageAirSync<<8 | 0x27
	AirSyncMaxItems          Tag = PageAirSync<<8 | 0x28
	AirSyncHeartbeatInterval Tag = PageAirSync<<8 | 0x29
)

// FolderHierarchy (code page 7): the tags of a FolderSync command. The
// Hierarchy prefix keeps the change elements (HierarchyDelete) apart from
// the commands (HierarchyFolderDelete).
const (
	HierarchyDisplayName  Tag = PageFolderHierarchy<<8 | 0x07
	HierarchyServerID     Tag = PageFolderHierarchy<<8 | 0x08
	HierarchyParentID     Tag = PageFolderHierarchy<<8 | 0x09
	HierarchyType         Tag = PageFolderHierarchy<<8 | 0x0a
	HierarchyStatus       Tag = PageFolderHierarchy<<8 | 0x0c
	HierarchyChanges      Tag = PageFolderHierarchy<<8 | 0x0e
	HierarchyAdd          Tag = PageFolderHierarchy<<8 | 0x0f
	HierarchyDelete       Tag = PageFolderHierarchy<<8 | 0x10
	HierarchyUpdate       Tag = PageFolderHierarchy<<8 | 0x11
	HierarchySyncKey      Tag = PageFolderHierarchy<<8 | 0x12
	HierarchyFolderCreate Tag = PageFolderHierarchy<<8 | 0x13
	HierarchyFolderDelete Tag = PageFolderHierarchy<<8 | 0x14
	HierarchyFolderUpdate Tag = PageFolderHierarchy<<8 | 0x15
	HierarchyFolderSync   Tag = PageFolderHierarchy<<8 | 0x16
	HierarchyCount        Tag = PageFolderHierarchy<<8 | 0x17
)

// Ping (code page 13): the tags of a Ping command.
const (
	PingPing              Tag = PagePing<<8 | 0x05
	PingAutdState         Tag = PagePing<<8 | 0x06
	PingStatus            Tag = PagePing<<8 | 0x07
	PingHeartbeatInterval Tag = PagePing<<8 | 0x08
	PingFolders           Tag = PagePing<<8 | 0x09
	PingFolder            Tag = PagePing<<8 | 0x0a
	PingID                Tag = PagePing<<8 | 0x0b
	PingClass             Tag = PagePing<<8 | 0x0c
	PingMaxFolders        Tag = PagePing<<8 | 0x0d
)

// pageNames are the namespaces of the EAS code pages (MS-ASWBXML).
var pageNames = [...]string{
	"AirSync", "Contacts", "Email", "AirNotify", "Calendar", "Move",
	"GetItemEstimate", "FolderHierarchy", "MeetingResponse", "Tasks",
	"ResolveRecipients", "ValidateCert", "Contacts2", "Ping", "Provision",
	"Search", "GAL", "AirSyncBase", "Settings", "DocumentLibrary",
	"ItemOperations", "ComposeMail", "Email2", "Notes", "RightsManagement",
	"Find",
}

func pageName(p byte) string {
	if int(p) < len(pageNames) {
		return pageNames[p]
	}
	return "cp" + strconv.Itoa(int(p))
}

// tagNames are the element names of the tags above.
var tagNames = map[Tag]string{
	AirSyncSync: "Sync", AirSyncResponses: "Responses", AirSyncAdd: "Add",
	AirSyncChange: "Change", AirSyncDelete: "Delete", AirSyncFetch: "Fetch",
	AirSyncSyncKey: "SyncKey", AirSyncClientID: "ClientId",
	AirSyncServerID: "ServerId", AirSyncStatus: "Status",
	AirSyncCollection: "Collection", AirSyncClass: "Class",
	AirSyncCollectionID: "CollectionId", AirSyncGetChanges: "GetChanges",
	AirSyncMoreAvailable: "MoreAvailable", AirSyncWindowSize: "WindowSize",
	AirSyncCommands: "Commands", AirSyncOptions: "Options",
	AirSyncFilterType: "FilterType", AirSyncConflict: "Conflict",
	AirSyncCollections: "Collections", AirSyncApplicationData: "ApplicationData",
	AirSyncDeletesAsMoves: "DeletesAsMoves", AirSyncSupported: "Supported",
	AirSyncSoftDelete: "SoftDelete", AirSyncMIMESupport: "MIMESupport",
	AirSyncMIMETruncation: "MIMETruncation", AirSyncWait: "Wait",
	AirSyncLimit: "Limit", AirSyncPartial: "Partial",
	AirSyncConversationMode: "ConversationMode", AirSyncMaxItems: "MaxItems",
	AirSyncHeartbeatInterval: "HeartbeatInterval",

	HierarchyDisplayName: "DisplayName", HierarchyServerID: "ServerId",
	HierarchyParentID: "ParentId", HierarchyType: "Type", HierarchyStatus: "Status",
	HierarchyChanges: "Changes", HierarchyAdd: "Add", HierarchyDelete: "Delete",
	HierarchyUpdate: "Update", HierarchySyncKey: "SyncKey",
	HierarchyFolderCreate: "FolderCreate", HierarchyFolderDelete: "FolderDelete",
	HierarchyFolderUpdate: "FolderUpdate", HierarchyFolderSync: "FolderSync",
	HierarchyCount: "Count",

	PingPing: "Ping", PingAutdState: "AutdState", PingStatus: "Status",
	PingHeartbeatInterval: "HeartbeatInterval", PingFolders: "Folders",
	PingFolder: "Folder", PingID: "Id", PingClass: "Class",
	PingMaxFolders: "MaxFolders",
}
