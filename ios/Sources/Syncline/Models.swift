// Typed models: an app's own Codable structs written and read as the records of one entity, so
// that an app need not touch `Record` and `Value`. A model goes to JSON with Foundation's
// JSONEncoder, each property is checked against the entity's device schema (`client.schema()`)
// and turned into the field's `Value`; a record goes back to JSON and into the model with
// JSONDecoder. Plain Swift and Foundation, so the Linux tests cover it.
//
// When the check happens: on every write, not when the collection is made. Swift cannot list a
// Codable type's properties without an instance; finding them from the type alone would take a
// tracing Decoder (every requirement of Decoder and its three container protocols, a dummy value
// for each type), which breaks on any model whose init(from:) checks its values or decodes an
// enum, and still misses properties a custom init(from:) never reads. Checking the JSON a write
// actually encodes checks exactly what is stored, for any Codable. The price: a property that is
// nil in every model written is never checked, and a mismatch shows at the first write rather
// than at `collection(_:entity:)`. Reading maps JSONDecoder's DecodingError to a ModelError
// naming the field, so a row that does not fit the model throws and never traps.
import Foundation
import SynclineCore

/// Why a model could not be written as, or read from, a record of its entity. Each case names
/// the entity and the field; `description` says it in a sentence.
public enum ModelError: Error, Equatable, CustomStringConvertible {
    /// The client's schema has no entity of this name.
    case unknownEntity(String)
    /// The model has a property the entity's device schema lacks: a typo, or a field the device
    /// never sees (`access = "server_only"`, such as a task's `internal_notes`).
    case unknownField(entity: String, field: String)
    /// A model to insert sets a field only the server writes (`access = "read_only"`, or
    /// `set_on_insert`): leave it nil; the server fills it in.
    case readOnlyField(entity: String, field: String)
    /// A property's value is not of the field's type; `found` is the JSON the model encoded to
    /// ("text", "integer", "real", "boolean", "array", "object", "null").
    case wrongType(entity: String, field: String, expected: FieldType, found: String)
    /// The model does not encode to a JSON object (a keyed container) with the key field in it.
    case notARecord(entity: String, reason: String)
    /// A stored record does not decode into the model; `field` is the path of the property
    /// JSONDecoder stopped at (empty when the model's own init(from:) refused the record).
    case undecodable(entity: String, key: String, field: String, reason: String)

    /// The error in a sentence, naming entity and field.
    public var description: String {
        switch self {
        case .unknownEntity(let entity):
            return "no entity \(entity) in the client's schema"
        case .unknownField(let entity, let field):
            return "\(entity).\(field): no such field on the device (unknown, or server-only)"
        case .readOnlyField(let entity, let field):
            return "\(entity).\(field): only the server writes this field; leave it nil"
        case .wrongType(let entity, let field, let expected, let found):
            return "\(entity).\(field): expected \(expected), found \(found)"
        case .notARecord(let entity, let reason):
            return "\(entity): the model is not a record: \(reason)"
        case .undecodable(let entity, let key, let field, let reason):
            return "\(entity) \(key)\(field.isEmpty ? "" : ".\(field)"): cannot decode: \(reason)"
        }
    }
}

/// The records of one entity as the app's own `Model` type: insert, update, read, query and
/// watch without `Record` or `Value`. Get one with
/// `client.collection(TaskItem.self, entity: "tasks")` (a model named `Task` would hide Swift's
/// concurrency `Task` in the app's module).
///
/// Properties map to fields by their coding key (a `CodingKeys` enum renames them); the
/// entity's key field (`entity.key`, such as `id`) must be a `String` property. Field types:
/// text ← `String`; integer ← any integer; real ← `Double` (or an integer); boolean ← `Bool`;
/// timestamp ← `Int64` milliseconds since the Unix epoch (or a `Date`, stored to the
/// millisecond); json ← any Codable (a `String` is stored as a JSON string). A nil optional is a
/// null field. Each row is converted through JSON, twice: fine for screens of hundreds of rows.
public struct SynclineCollection<Model: Codable>: Sendable {
    /// The client the records live in.
    public let client: SynclineClient
    /// The entity's device schema, which every write is checked against.
    public let entity: EntitySchema

    /// A collection of `entity`'s records as `Model`s; `client.collection(_:entity:)` finds the
    /// schema by name.
    public init(client: SynclineClient, entity: EntitySchema) {
        self.client = client
        self.entity = entity
    }

    /// Saves a new record (at once, in one transaction with its mutation; synced later). Nil
    /// optionals are left unset; a field only the server writes must be nil.
    @discardableResult
    public func insert(_ model: Model) throws -> MutationReceipt {
        try client.insert(entity: entity.name, record: record(model))
    }

    /// Writes the model's properties over the stored record: each takes the model's value, a
    /// nil optional clears its field, and fields the model has no property for (or only the
    /// server writes) keep theirs, so a model of a few fields can update a record of many. Only
    /// the fields that differ become the mutation (nil: none did). Throws `NotFound` when the
    /// device has no such record.
    @discardableResult
    public func update(_ model: Model) throws -> MutationReceipt? {
        var patch = try record(model, forUpdate: true)
        // JSONEncoder leaves a nil optional out, as it does a property the model lacks. The
        // stored record read as a model and encoded again holds exactly the model's properties
        // that are set now: those the new model leaves out are the ones to clear.
        if let stored = try client.get(entity: entity.name, key: patch.key) {
            for name in try record(self.model(stored), forUpdate: true).values.keys where patch.values[name] == nil {
                patch.values[name] = .null
            }
        }
        return try client.update(entity: entity.name, patch: patch)
    }

    /// Deletes the record whose key is `key`.
    @discardableResult
    public func delete(key: String) throws -> MutationReceipt {
        try client.delete(entity: entity.name, key: key)
    }

    /// The record whose key is `key`, as a model; nil if the device has none.
    public func get(key: String) throws -> Model? {
        try client.get(entity: entity.name, key: key).map(model)
    }

    /// The models of one page of `query` (`Query.all(limit:)` and its `filter`/`order`).
    public func query(_ query: Query) throws -> [Model] {
        try client.query(entity: entity.name, query: query).records.map(model)
    }

    /// The page of `query`, live, as models: the current one first, then a new one after every
    /// committed change of the entity (as `SynclineClient.watchStream(entity:query:)`, whose
    /// throttling and buffering it keeps). A record that does not decode ends the stream with
    /// its `ModelError`, a failed read with the core's `SynclineError`.
    public func watchStream(_ query: Query) -> AsyncThrowingStream<[Model], Error> {
        let pages = client.watchStream(entity: entity.name, query: query)
        return mapped(pages) { page in try page.records.map(model) }
    }

    /// One record, live, as a model: its current value first (nil if there is none), then every
    /// change, and nil once it is deleted (as `SynclineClient.watchRecordStream(entity:key:)`).
    public func watchStream(key: String) -> AsyncThrowingStream<Model?, Error> {
        let records = client.watchRecordStream(entity: entity.name, key: key)
        return mapped(records) { record in try record.map(model) }
    }

    /// The record `model` is written as: its key and every non-nil property as a field's value,
    /// checked against the schema (`insert` writes this). Throws a `ModelError` naming the field
    /// for a property the device schema lacks, a value of the wrong type, or a field only the
    /// server writes.
    public func record(_ model: Model) throws -> Record {
        try record(model, forUpdate: false)
    }

    /// `record` as a model (a record of `get`, `query`, a watch, or a conflict's `local` or
    /// `remote` values with its key). Throws a `ModelError.undecodable` naming the field that
    /// does not fit.
    public func model(_ record: Record) throws -> Model {
        var object: [String: JSONValue] = [entity.key: .string(record.key)]
        for (name, value) in record.values {
            object[name] = try json(value, field: name, key: record.key)
        }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .millisecondsSince1970
        do {
            return try decoder.decode(Model.self, from: JSONEncoder().encode(JSONValue.object(object)))
        } catch let error as DecodingError {
            throw decodingFailure(error, record: record)
        } catch {
            throw ModelError.undecodable(entity: entity.name, key: record.key, field: "", reason: "\(error)")
        }
    }

    private func record(_ model: Model, forUpdate: Bool) throws -> Record {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .millisecondsSince1970
        let encoded: JSONValue
        do {
            encoded = try JSONDecoder().decode(JSONValue.self, from: encoder.encode(model))
        } catch {
            throw ModelError.notARecord(entity: entity.name, reason: "JSONEncoder failed: \(error)")
        }
        guard case .object(var object) = encoded else {
            throw ModelError.notARecord(entity: entity.name, reason: "it encodes to \(encoded.kind), not to an object")
        }
        guard let key = object.removeValue(forKey: entity.key) else {
            throw ModelError.notARecord(entity: entity.name, reason: "no \(entity.key) (the entity's key)")
        }
        guard case .string(let keyText) = key else {
            throw ModelError.wrongType(entity: entity.name, field: entity.key, expected: .text, found: key.kind)
        }
        var values: [String: Value] = [:]
        // In name order, so that a model with several faults always names the same one.
        for (name, json) in object.sorted(by: { $0.key < $1.key }) {
            guard let field = entity.fields.first(where: { $0.name == name }) else {
                throw ModelError.unknownField(entity: entity.name, field: name)
            }
            if !field.writable {
                if forUpdate { continue }
                guard json == .null else { throw ModelError.readOnlyField(entity: entity.name, field: name) }
                continue
            }
            values[name] = try value(json, for: field)
        }
        return Record(key: keyText, values: values)
    }

    /// The field's value for what a property encoded to, or a `wrongType` error.
    private func value(_ json: JSONValue, for field: FieldDef) throws -> Value {
        switch (field.fieldType, json) {
        case (_, .null): return .null
        case (.text, .string(let text)): return .text(text)
        case (.boolean, .bool(let bool)): return .boolean(bool)
        case (.integer, .integer(let int)): return .integer(int)
        case (.real, .integer(let int)): return .real(Double(int))
        case (.real, .real(let double)): return .real(double)
        case (.timestamp, .integer(let ms)): return .timestamp(ms)
        // A Date, which the encoder writes as (fractional) milliseconds.
        case (.timestamp, .real(let ms)):
            if let whole = Int64(exactly: ms.rounded()) { return .timestamp(whole) }
        case (.attachment, .object(let object)):
            if case .string(let sha256)? = object["sha256"], case .integer(let size)? = object["size"], size >= 0,
               case .string(let mediaType)? = object["media_type"], case .string(let name)? = object["name"] {
                return .attachment(AttachmentRef(sha256: sha256, size: UInt64(size), mediaType: mediaType, name: name))
            }
        case (.json, _):
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            return .json(String(decoding: try encoder.encode(json), as: UTF8.self))
        default: break
        }
        throw ModelError.wrongType(entity: entity.name, field: field.name, expected: field.fieldType, found: json.kind)
    }

    /// A stored value as the JSON the model decodes from.
    private func json(_ value: Value, field: String, key: String) throws -> JSONValue {
        switch value {
        case .null: return .null
        case .text(let text): return .string(text)
        case .integer(let int), .timestamp(let int): return .integer(int)
        case .boolean(let bool): return .bool(bool)
        case .real(let double):
            guard double.isFinite else {
                throw ModelError.undecodable(entity: entity.name, key: key, field: field, reason: "\(double) is no JSON number")
            }
            return .real(double)
        case .attachment(let ref):
            return .object([
                "sha256": .string(ref.sha256), "size": .integer(Int64(clamping: ref.size)),
                "media_type": .string(ref.mediaType), "name": .string(ref.name),
            ])
        case .json(let text):
            do {
                return try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
            } catch {
                throw ModelError.undecodable(entity: entity.name, key: key, field: field, reason: "the stored JSON is not valid: \(text)")
            }
        }
    }

    /// JSONDecoder's error as the field it stopped at, what it expected and what it found.
    private func decodingFailure(_ error: DecodingError, record: Record) -> ModelError {
        func path(_ keys: [CodingKey]) -> String { keys.map(\.stringValue).joined(separator: ".") }
        func found(_ keys: [CodingKey]) -> String {
            guard keys.count == 1, let value = record.values[keys[0].stringValue] else { return "another value" }
            return (try? json(value, field: "", key: record.key).kind) ?? "\(value)"
        }
        switch error {
        case .typeMismatch(let type, let context):
            return undecodable(record, path(context.codingPath), "expected \(type), found \(found(context.codingPath))")
        case .valueNotFound(let type, let context):
            return undecodable(record, path(context.codingPath), "expected \(type), found null")
        case .keyNotFound(let missing, let context):
            return undecodable(record, path(context.codingPath + [missing]), "expected a value, found none")
        case .dataCorrupted(let context):
            return undecodable(record, path(context.codingPath), context.debugDescription)
        @unknown default:
            return undecodable(record, "", "\(error)")
        }
    }

    private func undecodable(_ record: Record, _ field: String, _ reason: String) -> ModelError {
        return .undecodable(entity: entity.name, key: record.key, field: field, reason: reason)
    }

    /// `source` with `transform` applied to each element, as a stream of its own: buffers only
    /// the newest element, ends with the first error, and stops `source` when it ends.
    private func mapped<Source, Element>(
        _ source: AsyncThrowingStream<Source, Error>, _ transform: @escaping @Sendable (Source) throws -> Element
    ) -> AsyncThrowingStream<Element, Error> {
        AsyncThrowingStream(bufferingPolicy: .bufferingNewest(1)) { continuation in
            let task = Task {
                do {
                    for try await element in source { continuation.yield(try transform(element)) }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}

extension SynclineClient {
    /// The records of `entity` as `type`: `client.collection(TaskItem.self, entity: "tasks")`.
    /// Throws `ModelError.unknownEntity` when the client's schema has no such entity; how each
    /// property maps to a field is described at `SynclineCollection`.
    public func collection<Model: Codable>(_ type: Model.Type, entity: String) throws -> SynclineCollection<Model> {
        guard let schema = schema().first(where: { $0.name == entity }) else { throw ModelError.unknownEntity(entity) }
        return SynclineCollection(client: self, entity: schema)
    }
}

extension Query {
    /// The first `limit` records, in key order (add `filter` and `order`).
    public static func all(limit: UInt32) -> Query {
        Query(filters: [], sort: [], limit: limit, offset: 0)
    }

    /// This query, keeping only records whose `field` equals `value`.
    public func filter(_ field: String, _ value: Value) -> Query {
        var query = self
        query.filters.append(Filter(field: field, value: value))
        return query
    }

    /// This query, sorted by `field` (after its sort fields so far; the key breaks ties).
    public func order(_ field: String, _ order: SynclineCore.SortOrder = .ascending) -> Query {
        var query = self
        query.sort.append(Sort(field: field, order: order))
        return query
    }
}

/// A JSON value, as JSONDecoder reads it and JSONEncoder writes it. Not JSONSerialization: its
/// NSNumber stands for numbers and booleans alike, and Apple's and Linux's Foundation tell them
/// apart differently, while JSONDecoder never reads `1` as a Bool or `true` as a number.
enum JSONValue: Codable, Equatable {
    case null
    case bool(Bool)
    case integer(Int64)
    case real(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let bool = try? container.decode(Bool.self) {
            self = .bool(bool)
        } else if let int = try? container.decode(Int64.self) {
            self = .integer(int)
        } else if let double = try? container.decode(Double.self) {
            self = .real(double)
        } else if let string = try? container.decode(String.self) {
            self = .string(string)
        } else if let array = try? container.decode([JSONValue].self) {
            self = .array(array)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let bool): try container.encode(bool)
        case .integer(let int): try container.encode(int)
        case .real(let double): try container.encode(double)
        case .string(let string): try container.encode(string)
        case .array(let array): try container.encode(array)
        case .object(let object): try container.encode(object)
        }
    }

    /// The value's kind, in the words of the schema's types where there is one.
    var kind: String {
        switch self {
        case .null: return "null"
        case .bool: return "boolean"
        case .integer: return "integer"
        case .real: return "real"
        case .string: return "text"
        case .array: return "array"
        case .object: return "object"
        }
    }
}
