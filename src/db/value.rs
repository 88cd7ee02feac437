//! The backend-neutral value and row types that every repository speaks.
//!
//! Parameters go in as [`Value`]s (built with the [`params!`](crate::params) macro) and rows
//! come back as [`Row`]s read by column index, so store code never names a driver type.

use super::DbError;

/// One SQL value. Booleans are stored as integers 0/1 in every dialect.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl From<i32> for Value {
    fn from(v: i32) -> Self {
        Value::Int(i64::from(v))
    }
}
impl From<u32> for Value {
    fn from(v: u32) -> Self {
        Value::Int(i64::from(v))
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Int(i64::from(v))
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Real(v)
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_owned())
    }
}
impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::Text(v.clone())
    }
}
impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Value::Blob(v)
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// Conversion from a column value, with a clear error on a type mismatch.
pub trait FromValue: Sized {
    fn from_value(v: &Value) -> Result<Self, String>;
}

impl FromValue for i64 {
    fn from_value(v: &Value) -> Result<Self, String> {
        match v {
            Value::Int(i) => Ok(*i),
            other => Err(format!("expected integer, found {other:?}")),
        }
    }
}
impl FromValue for bool {
    fn from_value(v: &Value) -> Result<Self, String> {
        match v {
            Value::Int(i) => Ok(*i != 0),
            other => Err(format!("expected boolean, found {other:?}")),
        }
    }
}
impl FromValue for f64 {
    fn from_value(v: &Value) -> Result<Self, String> {
        match v {
            Value::Real(f) => Ok(*f),
            // SQLite hands back integral REAL results (e.g. AVG of ints) as integers.
            #[allow(clippy::cast_precision_loss)]
            Value::Int(i) => Ok(*i as f64),
            other => Err(format!("expected real, found {other:?}")),
        }
    }
}
impl FromValue for String {
    fn from_value(v: &Value) -> Result<Self, String> {
        match v {
            Value::Text(s) => Ok(s.clone()),
            other => Err(format!("expected text, found {other:?}")),
        }
    }
}
impl FromValue for Vec<u8> {
    fn from_value(v: &Value) -> Result<Self, String> {
        match v {
            Value::Blob(b) => Ok(b.clone()),
            other => Err(format!("expected blob, found {other:?}")),
        }
    }
}
impl FromValue for Value {
    fn from_value(v: &Value) -> Result<Self, String> {
        Ok(v.clone())
    }
}
impl<T: FromValue> FromValue for Option<T> {
    fn from_value(v: &Value) -> Result<Self, String> {
        match v {
            Value::Null => Ok(None),
            other => T::from_value(other).map(Some),
        }
    }
}

/// One result row, read by zero-based column index.
#[derive(Debug, Clone)]
pub struct Row {
    values: Vec<Value>,
}

impl Row {
    pub fn new(values: Vec<Value>) -> Self {
        Row { values }
    }

    /// The value of column `idx` converted to `T`.
    pub fn get<T: FromValue>(&self, idx: usize) -> Result<T, DbError> {
        let v = self
            .values
            .get(idx)
            .ok_or_else(|| DbError::Decode(idx, "no such column".into()))?;
        T::from_value(v).map_err(|e| DbError::Decode(idx, e))
    }
}

/// Builds a `&[Value]` parameter list: `params![id, name, Some(5)]`.
#[macro_export]
macro_rules! params {
    () => {
        &[] as &[$crate::db::Value]
    };
    ($($v:expr),+ $(,)?) => {
        &[$($crate::db::Value::from($v)),+] as &[$crate::db::Value]
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_and_bools_round_trip() {
        let row = Row::new(vec![
            Value::from(Some("a")),
            Value::from(None::<i64>),
            true.into(),
        ]);
        assert_eq!(
            row.get::<Option<String>>(0).ok().flatten().as_deref(),
            Some("a")
        );
        assert_eq!(row.get::<Option<i64>>(1).ok().flatten(), None);
        assert!(row.get::<bool>(2).unwrap_or(false));
        assert!(row.get::<i64>(0).is_err(), "text is not an integer");
        assert!(row.get::<i64>(9).is_err(), "missing column");
    }
}
