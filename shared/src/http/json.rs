//! Request bodies as generated clients meet them. `JsonBody<T>` is poem-openapi's
//! `Json<T>` declared as plain `application/json` (its `; charset=utf-8` makes the Dart
//! and Kotlin generators fall back to untyped bodies); `JsonString` is a string field
//! that refuses numbers and booleans (poem-openapi's `String` turns `12345` into
//! `"12345"`). Use both for every JSON request body.

use std::borrow::Cow;
use std::ops::Deref;

use poem::{FromRequest, Request, RequestBody};
use poem_openapi::error::ParseRequestPayloadError;
use poem_openapi::payload::{Json, ParsePayload, Payload};
use poem_openapi::registry::{MetaSchemaRef, Registry};
use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type};
use serde_json::Value;

/// A JSON request body, parsed exactly as poem-openapi's `Json<T>` (a missing or
/// malformed body is a 400 through the edge's error mapper).
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

impl<T> Deref for JsonBody<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: Type> Payload for JsonBody<T> {
    const CONTENT_TYPE: &'static str = "application/json";

    fn check_content_type(content_type: &str) -> bool {
        Json::<T>::check_content_type(content_type)
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: ParseFromJSON> ParsePayload for JsonBody<T> {
    const IS_REQUIRED: bool = T::IS_REQUIRED;

    /// As `Json<T>` parses, except that a value of the wrong type names its field:
    /// poem-openapi reports `failed to parse "integer_int64" … (occurred while parsing
    /// "ServiceCreate")`, which says neither which field nor where.
    async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let data = Vec::<u8>::from_request(request, body).await?;
        let value = if data.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&data).map_err(|err| ParseRequestPayloadError { reason: err.to_string() })?
        };
        match T::parse_from_json(Some(value.clone())) {
            Ok(parsed) => Ok(Self(parsed)),
            Err(err) => {
                let message = err.into_message();
                let reason = match culprit::<T>(&value, &message) {
                    Some(field) => format!("field `{field}`: {}", without_context(&message)),
                    None => message,
                };
                Err(ParseRequestPayloadError { reason }.into())
            }
        }
    }
}

/// The message without poem-openapi's `(occurred while parsing "T")` notes, which name
/// types, not fields.
fn without_context(message: &str) -> String {
    const NOTE: &str = " (occurred while parsing \"";
    let mut rest = message;
    let mut out = String::with_capacity(message.len());
    while let Some(at) = rest.find(NOTE) {
        out.push_str(&rest[..at]);
        match rest[at + NOTE.len()..].find("\")") {
            Some(end) => rest = &rest[at + NOTE.len() + end + 2..],
            None => {
                rest = &rest[at..];
                break;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The top-level field of the object `value` that made parsing `T` fail with `message`,
/// when the message does not already name one (validators do: "field `x` verification
/// failed"). An object parses its fields in declaration order and stops at the first
/// failure. A missing or null required field (the two fail alike: "found null") is the
/// first required one absent or null; otherwise the culprit is the first field whose
/// value, with every later field removed, fails with the same message (a later field
/// missing fails with "found null", never the same). `None` for anything but an object,
/// or a failure no field explains.
fn culprit<T: ParseFromJSON>(value: &Value, message: &str) -> Option<String> {
    let object = value.as_object()?;
    if message.contains("field `") || message.contains("unknown field") {
        return None;
    }
    let mut registry = Registry::new();
    T::register(&mut registry);
    let schema = registry.schemas.get(&*T::name())?;
    if message.contains("expects an input value") || message.contains("found null") {
        let missing = schema
            .properties
            .iter()
            .map(|(name, _)| *name)
            .filter(|name| schema.required.contains(name))
            .find(|name| object.get(*name).is_none_or(Value::is_null))?;
        return Some(missing.to_owned());
    }
    let mut prefix = serde_json::Map::new();
    for (name, _) in &schema.properties {
        let Some(field) = object.get(*name) else { continue };
        prefix.insert((*name).to_owned(), field.clone());
        let probe = T::parse_from_json(Some(Value::Object(prefix.clone())));
        if probe.err().is_some_and(|err| err.message() == message) {
            return Some((*name).to_owned());
        }
    }
    None
}

poem_openapi::impl_apirequest_for_payload!(JsonBody<T>, T: ParseFromJSON);

/// A JSON string field: only a JSON string parses (a number or boolean is a 400, like
/// any wrong type). Use it for every `String` field of a request body; validators
/// (`min_length`, `max_length`, `pattern`) work on it as on `String`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JsonString(pub String);

impl Deref for JsonString {
    type Target = String;

    fn deref(&self) -> &String {
        &self.0
    }
}

impl AsRef<str> for JsonString {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Type for JsonString {
    const IS_REQUIRED: bool = true;
    type RawValueType = String;
    type RawElementValueType = String;

    fn name() -> Cow<'static, str> {
        String::name()
    }

    fn schema_ref() -> MetaSchemaRef {
        String::schema_ref()
    }

    fn as_raw_value(&self) -> Option<&String> {
        Some(&self.0)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a String> + 'a> {
        Box::new(std::iter::once(&self.0))
    }
}

impl ParseFromJSON for JsonString {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            Some(Value::String(s)) => Ok(Self(s)),
            other => Err(ParseError::expected_type(other.unwrap_or_default())),
        }
    }
}

impl ToJSON for JsonString {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.0.clone()))
    }
}
