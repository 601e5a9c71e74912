import Configuration
import Foundation

/// What one beat of `walbridge status --watch` read: the slot and checkpoint
/// from Postgres, and `/metrics` and `/status` from the running `walbridge run`.
/// Each part may be unavailable; `StatusWatchFrame` renders what there is.
public struct StatusWatchSample: Sendable {
    /// When the metrics were scraped (rates are per second between two of these).
    public var takenAt: Date
    /// The slot and checkpoint (`SourceStatus.read`), or why they could not be read.
    public var slot: Result<SlotStatus, BridgeError>
    /// The running process's listener as the watch reaches it (`127.0.0.1:9187`);
    /// nil when `metrics.listen` is not configured.
    public var listenAddress: String?
    /// `/metrics`, parsed; nil when `metrics.listen` is not configured.
    public var metrics: Result<PrometheusExposition, StatusWatchProblem>?
    /// `/status`; nil when `metrics.listen` is not configured.
    public var process: Result<ProcessStatus, StatusWatchProblem>?

    public init(
        takenAt: Date, slot: Result<SlotStatus, BridgeError>, listenAddress: String?,
        metrics: Result<PrometheusExposition, StatusWatchProblem>?, process: Result<ProcessStatus, StatusWatchProblem>?
    ) {
        self.takenAt = takenAt
        self.slot = slot
        self.listenAddress = listenAddress
        self.metrics = metrics
        self.process = process
    }

    /// The parsed `/metrics`, when there is one.
    public var exposition: PrometheusExposition? { try? metrics?.get() }
}

/// Why a part of a watch sample is missing: said in the frame.
public struct StatusWatchProblem: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String
    /// True when the process could not be reached at all (not an answer that was wrong).
    public var unreachable: Bool

    public init(_ description: String, unreachable: Bool = false) {
        self.description = description
        self.unreachable = unreachable
    }
}

/// Takes `StatusWatchSample`s for one configuration: one ordinary Postgres
/// connection per sample (as `walbridge status`), and two requests to `metrics.listen`.
public struct StatusWatchSampler: Sendable {
    public let configuration: BridgeConfiguration
    /// Nil when `metrics.listen` is not set, or is not `host:port`.
    public let client: MetricsListenerClient?

    public init(configuration: BridgeConfiguration, timeout: Duration = .seconds(2)) {
        self.configuration = configuration
        client = configuration.metrics.listen.flatMap { MetricsListenerClient(listen: $0, timeout: timeout) }
    }

    /// Reads everything once. Never throws: what cannot be read is in the sample.
    public func sample() -> StatusWatchSample {
        let takenAt = Date()
        var metrics: Result<PrometheusExposition, StatusWatchProblem>?
        var process: Result<ProcessStatus, StatusWatchProblem>?
        if let listen = configuration.metrics.listen {
            if let client {
                let scraped = Self.get(client, "/metrics")
                metrics = scraped.flatMap { body in
                    Result { () throws(PrometheusParseError) in try PrometheusExposition(parsing: body) }
                        .mapError { StatusWatchProblem("/metrics: \($0)") }
                }
                if case .failure(let problem) = scraped, problem.unreachable {
                    process = .failure(problem)  // no second wait for a process that is not there
                } else {
                    process = Self.get(client, "/status").flatMap { body in
                        Result { () throws(ProcessStatusError) in try ProcessStatus(json: body) }.mapError { StatusWatchProblem("\($0)") }
                    }
                }
            } else {
                let problem = StatusWatchProblem("metrics.listen '\(listen)' is not host:port")
                metrics = .failure(problem)
                process = .failure(problem)
            }
        }
        let slot = Result { () throws(BridgeError) in try SourceStatus.read(configuration) }
        return StatusWatchSample(takenAt: takenAt, slot: slot, listenAddress: client?.address, metrics: metrics, process: process)
    }

    private static func get(_ client: MetricsListenerClient, _ path: String) -> Result<String, StatusWatchProblem> {
        do {
            let answer = try client.get(path)
            guard answer.status == 200 else {
                let first = answer.body.split(whereSeparator: \.isNewline).first.map { String($0.prefix(120)) } ?? ""
                return .failure(StatusWatchProblem("\(path) answered \(answer.status)" + (first.isEmpty ? "" : ": \(first)") + " (is this walbridge run's metrics.listen?)"))
            }
            return .success(answer.body)
        } catch {
            return .failure(StatusWatchProblem(error.reason, unreachable: true))
        }
    }
}
