// Typed models: an app's @Serializable classes read and written as the records of one entity.
// The class is checked once against the entity's schema (its SerialDescriptor: names, kinds,
// nullability); kotlinx.serialization.json turns a model into JSON elements and back, and this
// file maps those to the core's Values by the schema's field types. Plain Kotlin (no android.*),
// so the JVM tests cover it.
package dev.syncline

import dev.syncline.core.SynclineClient
import dev.syncline.core.protocol.AttachmentRef
import dev.syncline.core.protocol.EntitySchema
import dev.syncline.core.protocol.FieldDef
import dev.syncline.core.protocol.FieldType
import dev.syncline.core.protocol.Value
import dev.syncline.core.types.MutationReceipt
import dev.syncline.core.types.Query
import dev.syncline.core.types.Record
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.map
import kotlinx.serialization.DeserializationStrategy
import kotlinx.serialization.ExperimentalSerializationApi
import kotlinx.serialization.KSerializer
import kotlinx.serialization.MissingFieldException
import kotlinx.serialization.descriptors.PrimitiveKind
import kotlinx.serialization.descriptors.SerialDescriptor
import kotlinx.serialization.descriptors.SerialKind
import kotlinx.serialization.descriptors.StructureKind
import kotlinx.serialization.encoding.CompositeDecoder
import kotlinx.serialization.encoding.Decoder
import kotlinx.serialization.json.Json
import kotlinx.serialization.json.JsonElement
import kotlinx.serialization.json.JsonNull
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.booleanOrNull
import kotlinx.serialization.json.doubleOrNull
import kotlinx.serialization.json.jsonObject
import kotlinx.serialization.json.longOrNull
import kotlinx.serialization.serializer

/**
 * The records of [entity] as instances of [T], a `@Serializable` class whose properties are the
 * entity's key field and some of its fields (by serial name: `@SerialName` renames). The class is
 * checked against the entity's schema here, once; a class that does not fit throws
 * [ModelMismatchException] naming the field, the type the schema wants and the type found. See
 * [TypedCollection] for the rules.
 */
inline fun <reified T : Any> SynclineClient.collection(entity: String): TypedCollection<T> =
    TypedCollection(this, entity, serializer<T>())

/**
 * A model class that does not fit its entity: [field] of [entity] wants [expected], and [model]
 * (the class's serial name) has [found].
 */
class ModelMismatchException(
    /** The entity the class was checked against. */
    val entity: String,
    /** The class's serial name. */
    val model: String,
    /** The field (a property's serial name, or a field the class lacks). */
    val field: String,
    /** What the schema wants, e.g. `integer (Long or Int)`. */
    val expected: String,
    /** What the class has, e.g. `kotlin.String` or `no property`. */
    val found: String,
) : IllegalArgumentException("$model does not fit entity $entity: field $field: expected $expected, found $found")

/**
 * A record of [entity] that cannot become the model: the value of [field] (null when the model's
 * serializer failed outside any property) of the record with [key] does not decode. [cause] is
 * the serializer's error. Thrown by reads (get, query) and by [TypedCollection.watchFlow]'s
 * collection, never on another thread.
 */
class ModelDecodingException(
    /** The entity read. */
    val entity: String,
    /** The record's key. */
    val key: String,
    /** The field whose value did not decode, when it could be told. */
    val field: String?,
    cause: Throwable,
) : IllegalStateException("cannot read $entity $key as a model: field ${field ?: "(unknown)"}: ${cause.message}", cause)

/**
 * The records of one entity as instances of [T] (make one with [SynclineClient.collection]).
 *
 * What fits, checked when the collection is made:
 * - every property is the entity's key field (a non-null `String`) or a field devices see (not
 *   server-only), of a compatible type: text ↔ `String` (or an enum, stored by its serial name),
 *   integer ↔ `Long` or `Int`, real ↔ `Double`, boolean ↔ `Boolean`, timestamp ↔ `Long`
 *   (milliseconds since the epoch), json ↔ any serializable type; a value class counts as what
 *   it wraps;
 * - a field that may be null (not required, or written only by the server, which leaves it null
 *   until the device pulls the record) needs a nullable property, or one with a default value,
 *   which a null in the record reads as;
 * - the class has the key field and every required field devices write; it may leave out the
 *   others, which the collection then neither reads nor changes.
 *
 * Writes: [insert] and [update] write every property the device may write (fields only the
 * server writes are left out). So in [update] a null property sets its field to null: the model
 * is the record as far as the class sees it. The core stores, and syncs, only the fields whose
 * value differs from the device's current record, so unchanged properties cause no change and no
 * conflict; but a model read before a pull would put the older values back, so update a model
 * read just before (or from a live query), e.g. `tasks.update(tasks.get(id)!!.copy(done = true))`.
 */
class TypedCollection<T : Any>(
    /** The client whose records these are. */
    val client: SynclineClient,
    /** The entity's name. */
    val entity: String,
    /** The model's serializer (`serializer<T>()`). */
    val serializer: KSerializer<T>,
) {
    private val descriptor: SerialDescriptor = serializer.descriptor
    private val schema: EntitySchema = client.schema().firstOrNull { it.name == entity }
        ?: throw IllegalArgumentException("no entity $entity in the client's schema (it has ${client.schema().joinToString { it.name }})")

    /** The field each property stands for, by property index; null for the key. */
    private val fields: List<FieldDef?>

    init {
        require(descriptor.kind == StructureKind.CLASS) {
            "${descriptor.serialName} is not a class with properties (its kind is ${descriptor.kind}): it cannot be a record of $entity"
        }
        val byName = schema.fields.associateBy { it.name }
        fields = (0 until descriptor.elementsCount).map { i -> check(i, byName) }
        val names = (0 until descriptor.elementsCount).map(descriptor::getElementName).toSet()
        if (schema.key !in names) mismatch(schema.key, "the key: text (a String, never null)", "no property")
        for (field in schema.fields) {
            if (!field.nullable && field.writable && field.name !in names) {
                mismatch(field.name, "${field.fieldType.words()}, required", "no property")
            }
        }
    }

    /** Saves a new record (synced later); throws the core's error for a key already used. */
    fun insert(model: T): MutationReceipt = client.insert(entity, record(model))

    /**
     * Writes [model] over the record with its key: every property the device may write, a null
     * one included (it sets the field to null). Null when nothing differed.
     */
    fun update(model: T): MutationReceipt? = client.update(entity, record(model))

    /** Deletes the record with [key]. */
    fun delete(key: String): MutationReceipt = client.delete(entity, key)

    /** The record with [key] as a model; null when the device has none. */
    fun get(key: String): T? = client.get(entity, key)?.let(::model)

    /** The page [query] selects (at most its limit), as models. */
    fun query(query: Query): List<T> = client.query(entity, query).records.map(::model)

    /**
     * The page [query] selects, live, as models: [watchFlow] of the entity with each page
     * decoded. A record that does not decode fails the collection with [ModelDecodingException].
     */
    fun watchFlow(query: Query): Flow<List<T>> = client.watchFlow(entity, query).map { page -> page.records.map(::model) }

    /**
     * The record with [key], live, as a model: now (null when there is none), after every change,
     * and null once deleted; [watchRecordFlow] of the entity, decoded like [watchFlow].
     */
    fun watchRecordFlow(key: String): Flow<T?> = client.watchRecordFlow(entity, key).map { it?.let(::model) }

    /**
     * The record [model] is written as: its key, and the values of the properties the device
     * writes (what [insert] and [update] pass to the core; also the values of a
     * `Resolution.Merged`).
     */
    fun record(model: T): Record {
        val (key, values) = encode(model)
        return Record(key = key, values = values)
    }

    /** Checks property [i] against the schema; returns its field (null for the key). */
    private fun check(i: Int, byName: Map<String, FieldDef>): FieldDef? {
        val name = descriptor.getElementName(i)
        val element = descriptor.getElementDescriptor(i)
        if (name == schema.key) {
            if (element.isNullable || element.valueKind() != PrimitiveKind.STRING) {
                mismatch(name, "the key: text (a String, never null)", element.serialName)
            }
            return null
        }
        val field = byName[name] ?: mismatch(
            name,
            "a field of $entity that devices see (${(listOf(schema.key) + schema.fields.map { it.name }).joinToString()})",
            "a property of type ${element.serialName}",
        )
        val kinds = kindsOf(field.fieldType)
        if (kinds != null && element.valueKind() !in kinds) mismatch(name, field.fieldType.words(), element.serialName)
        val mayBeNull = field.nullable || !field.writable
        if (mayBeNull && !element.isNullable && !descriptor.isElementOptional(i)) {
            val why = if (field.nullable) "it may be null" else "only the server writes it: null until pulled"
            mismatch(name, "a nullable type or a default value ($why)", element.serialName)
        }
        return field
    }

    private fun mismatch(field: String, expected: String, found: String): Nothing =
        throw ModelMismatchException(entity, descriptor.serialName, field, expected, found)

    /** The model's key and the values of the fields the device writes. */
    private fun encode(model: T): Pair<String, Map<String, Value>> {
        val json = JSON.encodeToJsonElement(serializer, model).jsonObject
        val key = (json[schema.key] as? JsonPrimitive)?.takeIf { it.isString }?.content
            ?: mismatch(schema.key, "the key: text", "${json[schema.key]}")
        val values = HashMap<String, Value>()
        for (field in fields) {
            if (field == null || !field.writable) continue
            values[field.name] = toValue(field, json[field.name] ?: JsonNull)
        }
        return key to values
    }

    /** [element] as [field]'s value; a serializer that wrote another type gets a mismatch. */
    private fun toValue(field: FieldDef, element: JsonElement): Value {
        if (element is JsonNull) return Value.Null
        if (field.fieldType == FieldType.JSON) return Value.Json(element.toString())
        if (field.fieldType == FieldType.ATTACHMENT) {
            return attachmentOf(element)?.let { Value.Attachment(it) }
                ?: mismatch(field.name, field.fieldType.words(), "the serialized value $element")
        }
        val primitive = element as? JsonPrimitive
        val value = when (field.fieldType) {
            FieldType.TEXT -> primitive?.takeIf { it.isString }?.let { Value.Text(it.content) }
            FieldType.INTEGER -> primitive?.takeUnless { it.isString }?.longOrNull?.let { Value.Integer(it) }
            FieldType.REAL -> primitive?.takeUnless { it.isString }?.doubleOrNull?.let { Value.Real(it) }
            FieldType.BOOLEAN -> primitive?.takeUnless { it.isString }?.booleanOrNull?.let { Value.Boolean(it) }
            FieldType.TIMESTAMP -> primitive?.takeUnless { it.isString }?.longOrNull?.let { Value.Timestamp(it) }
            FieldType.JSON, FieldType.ATTACHMENT -> null // handled above
        }
        return value ?: mismatch(field.name, field.fieldType.words(), "the serialized value $element")
    }

    /**
     * [record] as a model: a record read from the core, or a conflict's `local` or `remote`
     * values with its key (`Record(conflict.key, values = conflict.remote!!)`). A record that
     * does not decode throws [ModelDecodingException] naming its field.
     */
    @OptIn(ExperimentalSerializationApi::class) // MissingFieldException.missingFields
    fun model(record: Record): T {
        val json = HashMap<String, JsonElement>()
        for ((i, field) in fields.withIndex()) {
            if (field == null) {
                json[schema.key] = JsonPrimitive(record.key)
                continue
            }
            val value = record.values[field.name] ?: Value.Null
            // A non-null property with a default reads a null as its default: leave it out.
            if (value == Value.Null && !descriptor.getElementDescriptor(i).isNullable) continue
            json[field.name] = try {
                value.toJson()
            } catch (e: Exception) {
                throw ModelDecodingException(entity, record.key, field.name, e)
            }
        }
        val tracked = Tracked(serializer)
        return try {
            JSON.decodeFromJsonElement(tracked, JsonObject(json))
        } catch (e: Exception) {
            val field = when {
                e is MissingFieldException -> e.missingFields.firstOrNull()
                tracked.index >= 0 -> descriptor.getElementName(tracked.index)
                else -> null
            }
            throw ModelDecodingException(entity, record.key, field, e)
        }
    }

    private companion object {
        /** Every property written (defaults too) and read back as is. */
        val JSON = Json {
            encodeDefaults = true
            explicitNulls = true
            allowSpecialFloatingPointValues = true
        }

        /** The serial kinds a field type takes; null: any (json). */
        fun kindsOf(type: FieldType): Set<SerialKind>? = when (type) {
            FieldType.TEXT -> setOf(PrimitiveKind.STRING, SerialKind.ENUM)
            FieldType.INTEGER -> setOf(PrimitiveKind.LONG, PrimitiveKind.INT)
            FieldType.REAL -> setOf(PrimitiveKind.DOUBLE)
            FieldType.BOOLEAN -> setOf(PrimitiveKind.BOOLEAN)
            FieldType.TIMESTAMP -> setOf(PrimitiveKind.LONG)
            FieldType.JSON -> null
            FieldType.ATTACHMENT -> setOf(StructureKind.CLASS)
        }

        /** The field type as the schema file names it, with the Kotlin types that fit it. */
        fun FieldType.words(): String = when (this) {
            FieldType.TEXT -> "text (String, or an enum)"
            FieldType.INTEGER -> "integer (Long or Int)"
            FieldType.REAL -> "real (Double)"
            FieldType.BOOLEAN -> "boolean (Boolean)"
            FieldType.TIMESTAMP -> "timestamp (Long, ms since the epoch)"
            FieldType.JSON -> "json (any serializable type)"
            FieldType.ATTACHMENT -> "attachment (a class with sha256, size, media_type and name)"
        }

        /** The kind of what is stored: a value class's is the kind of what it wraps. */
        @OptIn(ExperimentalSerializationApi::class)
        fun SerialDescriptor.valueKind(): SerialKind = if (isInline) getElementDescriptor(0).valueKind() else kind

        /** This value as kotlinx.serialization's JSON; a json field's text is parsed. */
        fun Value.toJson(): JsonElement = when (this) {
            Value.Null -> JsonNull
            is Value.Text -> JsonPrimitive(v1)
            is Value.Integer -> JsonPrimitive(v1)
            is Value.Real -> JsonPrimitive(v1)
            is Value.Boolean -> JsonPrimitive(v1)
            is Value.Timestamp -> JsonPrimitive(v1)
            is Value.Json -> JSON.parseToJsonElement(v1)
            is Value.Attachment -> JsonObject(
                mapOf(
                    "sha256" to JsonPrimitive(v1.sha256),
                    "size" to JsonPrimitive(v1.size.toLong()),
                    "media_type" to JsonPrimitive(v1.mediaType),
                    "name" to JsonPrimitive(v1.name),
                ),
            )
        }

        /** A serialized attachment class as the core's reference; null when a key is missing. */
        fun attachmentOf(element: JsonElement): AttachmentRef? {
            val o = element as? JsonObject ?: return null
            fun text(name: String) = (o[name] as? JsonPrimitive)?.takeIf { it.isString }?.content
            val size = (o["size"] as? JsonPrimitive)?.takeUnless { it.isString }?.longOrNull ?: return null
            if (size < 0) return null
            return AttachmentRef(
                sha256 = text("sha256") ?: return null,
                size = size.toULong(),
                mediaType = text("media_type") ?: return null,
                name = text("name") ?: return null,
            )
        }
    }
}

/**
 * Decodes with [serializer], keeping the index of the property being decoded, so that a failure
 * names its field whatever threw it (a JSON error, a custom serializer's own check). The format
 * is always JSON, whose decoders ask decodeElementIndex before every property.
 */
@OptIn(ExperimentalSerializationApi::class)
private class Tracked<T>(private val serializer: KSerializer<T>) : DeserializationStrategy<T> {
    /** The property being decoded; negative before the first. */
    var index: Int = -1

    override val descriptor: SerialDescriptor get() = serializer.descriptor

    override fun deserialize(decoder: Decoder): T = serializer.deserialize(object : Decoder by decoder {
        override fun beginStructure(descriptor: SerialDescriptor): CompositeDecoder {
            val inner = decoder.beginStructure(descriptor)
            return object : CompositeDecoder by inner {
                override fun decodeElementIndex(descriptor: SerialDescriptor): Int =
                    inner.decodeElementIndex(descriptor).also { index = it }
            }
        }
    })
}
