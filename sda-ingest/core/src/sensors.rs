//! The sensor registry: names, kinds and sites of the deployed sensors.
//!
//! Binary formats identify a sensor by a small number and carry no location, so normalisation
//! needs this table to name the sensor and attach its observer position.

use std::collections::HashMap;

use crate::observation::{Observer, SensorKind};

/// One registered sensor.
#[derive(Debug, Clone, PartialEq)]
pub struct SensorInfo {
    /// Unique sensor name, used in observation ids.
    pub name: String,
    /// What the sensor measures.
    pub kind: SensorKind,
    /// Numeric id on binary links (radar sensor id, ISL satellite id), if any.
    pub numeric_id: Option<u16>,
    /// Fixed site of a ground sensor.
    pub site: Option<Observer>,
}

/// Sensors by name and by (kind, numeric id).
#[derive(Debug, Clone, Default)]
pub struct SensorRegistry {
    by_name: HashMap<String, SensorInfo>,
    by_numeric: HashMap<(SensorKind, u16), String>,
}

impl SensorRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces a sensor.
    pub fn insert(&mut self, info: SensorInfo) {
        if let Some(id) = info.numeric_id {
            self.by_numeric.insert((info.kind, id), info.name.clone());
        }
        self.by_name.insert(info.name.clone(), info);
    }

    /// The sensor with this name.
    pub fn by_name(&self, name: &str) -> Option<&SensorInfo> {
        self.by_name.get(name)
    }

    /// The sensor of this kind with this numeric id.
    pub fn by_numeric(&self, kind: SensorKind, id: u16) -> Option<&SensorInfo> {
        self.by_numeric
            .get(&(kind, id))
            .and_then(|name| self.by_name.get(name))
    }

    /// All sensors, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &SensorInfo> {
        self.by_name.values()
    }
}
