import EventMapping
import PostgresReplication

/// What makes a failover slot safe, checked on the primary and, where the
/// URL lists it, on the standby (Postgres 17's slot synchronisation):
///
/// - on the primary, `synchronized_standby_slots` names the standby's physical
///   slot, so the walsender holds back every transaction until that standby has
///   it: without it WalBridge can publish transactions that a promoted standby
///   never received, and consumers keep events of changes that no longer exist;
/// - on the standby, `sync_replication_slots = on`, `hot_standby_feedback = on`,
///   `primary_slot_name` set, and a `dbname` in `primary_conninfo`.
///
/// Each finding is one sentence that says what is missing and how to set it.
enum FailoverCheck {
    /// The primary's side, from `synchronized_standby_slots` and the physical slots it names.
    /// - Parameter physicalSlots: the primary's physical slots: name → active.
    static func primaryFindings(synchronizedStandbySlots: String, physicalSlots: [String: Bool]) -> [String] {
        let named = synchronizedStandbySlots.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !named.isEmpty else {
            return ["synchronized_standby_slots is not set on the primary: WalBridge may receive, and publish, transactions that a promoted standby never had; set it to the standby's physical slot (its primary_slot_name), e.g. ALTER SYSTEM SET synchronized_standby_slots = 'standby1'; SELECT pg_reload_conf()"]
        }
        var findings: [String] = []
        for name in named {
            switch physicalSlots[name] {
            case .none:
                findings.append("synchronized_standby_slots names '\(name)', which is not a physical slot on the primary; create it (SELECT pg_create_physical_replication_slot('\(name)')) and set the standby's primary_slot_name to it")
            case .some(false):
                findings.append("the standby slot '\(name)' in synchronized_standby_slots is not in use: no standby streams from it, and the primary holds WalBridge's stream back until one does (check the standby's primary_slot_name and primary_conninfo)")
            case .some(true):
                break
            }
        }
        return findings
    }

    /// The standby's side, from its settings (nil: the setting could not be read).
    static func standbyFindings(syncReplicationSlots: String?, hotStandbyFeedback: String?, primarySlotName: String?,
                                primaryConninfo: String?) -> [String] {
        var findings: [String] = []
        if syncReplicationSlots != "on" {
            findings.append("sync_replication_slots is \(syncReplicationSlots.map { "'\($0)'" } ?? "unreadable") on the standby: its copy of the slot is not kept in step; set sync_replication_slots = on there")
        }
        if hotStandbyFeedback != "on" {
            findings.append("hot_standby_feedback is \(hotStandbyFeedback.map { "'\($0)'" } ?? "unreadable") on the standby: the primary may remove rows the synchronised slot still needs; set hot_standby_feedback = on there")
        }
        if (primarySlotName ?? "").isEmpty {
            findings.append("primary_slot_name is not set on the standby: slot synchronisation needs the standby to stream from a physical slot; set primary_slot_name to the slot named in the primary's synchronized_standby_slots")
        }
        if let primaryConninfo {
            if !Self.conninfoHasDatabase(primaryConninfo) {
                findings.append("primary_conninfo on the standby has no dbname: slot synchronisation connects to a database of the primary; add dbname=postgres (or any database) to primary_conninfo")
            }
        } else {
            findings.append("primary_conninfo on the standby cannot be read by this role: grant it pg_read_all_settings to let validate check that it names a dbname (slot synchronisation needs one)")
        }
        return findings
    }

    /// True when a conninfo string (`key=value ...`) or URL names a database.
    static func conninfoHasDatabase(_ conninfo: String) -> Bool {
        if conninfo.hasPrefix("postgres://") || conninfo.hasPrefix("postgresql://") {
            guard let slash = conninfo.dropFirst(conninfo.hasPrefix("postgres://") ? 11 : 13).firstIndex(of: "/") else { return false }
            let rest = conninfo[conninfo.index(after: slash)...]
            return !(rest.prefix { $0 != "?" }).isEmpty || rest.contains("dbname=")
        }
        return conninfo.split(separator: " ").contains { part in
            let pieces = part.split(separator: "=", maxSplits: 1)
            return pieces.count == 2 && pieces[0] == "dbname" && !pieces[1].isEmpty && pieces[1] != "''"
        }
    }
}
