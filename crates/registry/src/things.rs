//! CreateThing, DescribeThing, ListThings, UpdateThing, DeleteThing.

use std::collections::BTreeMap;

use kumo_model::{check_attribute_name, check_attribute_value, ThingName, ThingTypeName};
use serde::{Deserialize, Serialize};

use crate::error::{RegistryError, Result};
use crate::{page, page_size, Change, Planned, Registry, Thing};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttributePayload {
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// UpdateThing: merge into the existing attributes (an empty value
    /// removes one) instead of replacing them all.
    #[serde(default)]
    pub merge: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateThingRequest {
    #[serde(default)]
    pub thing_type_name: Option<ThingTypeName>,
    #[serde(default)]
    pub attribute_payload: Option<AttributePayload>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateThingResponse {
    pub thing_name: ThingName,
    pub thing_arn: String,
    pub thing_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeThingResponse {
    pub default_client_id: String,
    pub thing_name: ThingName,
    pub thing_id: String,
    pub thing_arn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thing_type_name: Option<ThingTypeName>,
    pub attributes: BTreeMap<String, String>,
    pub version: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListThingsRequest {
    pub next_token: Option<String>,
    pub max_results: Option<u32>,
    pub attribute_name: Option<String>,
    pub attribute_value: Option<String>,
    pub thing_type_name: Option<String>,
    #[serde(default)]
    pub use_prefix_attribute_value: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ThingSummary {
    pub thing_name: ThingName,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thing_type_name: Option<ThingTypeName>,
    pub thing_arn: String,
    pub attributes: BTreeMap<String, String>,
    pub version: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListThingsResponse {
    pub things: Vec<ThingSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateThingRequest {
    pub thing_type_name: Option<ThingTypeName>,
    pub attribute_payload: Option<AttributePayload>,
    pub expected_version: Option<u64>,
    #[serde(default)]
    pub remove_thing_type: bool,
}

/// At most this many attributes per thing (AWS: 50 for things with a type,
/// 3 without; Kumo allows 50 either way).
pub const MAX_ATTRIBUTES: usize = 50;

fn check_attributes(attrs: &BTreeMap<String, String>) -> Result<()> {
    if attrs.len() > MAX_ATTRIBUTES {
        return Err(RegistryError::InvalidRequest(format!(
            "a thing has at most {MAX_ATTRIBUTES} attributes"
        )));
    }
    for (k, v) in attrs {
        check_attribute_name(k)?;
        check_attribute_value(v)?;
    }
    Ok(())
}

impl Registry {
    fn thing_or_404(&self, name: &ThingName) -> Result<&Thing> {
        self.things
            .get(name)
            .ok_or_else(|| Registry::not_found("Thing", name.as_str()))
    }

    /// A new `thingId`: UUID-shaped, from the name, the time and a counter
    /// (never reused: the counter is stored with the thing).
    fn new_thing_id(&self, name: &ThingName, now: u64) -> (String, Change) {
        let n: u64 = self
            .meta
            .get("thing-serial")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
            + 1;
        let d = crate::x509::sha256(format!("{name}\0{now}\0{n}").as_bytes());
        let h =
            |r: std::ops::Range<usize>| d[r].iter().map(|b| format!("{b:02x}")).collect::<String>();
        let id = format!(
            "{}-{}-4{}-8{}-{}",
            h(0..4),
            h(4..6),
            &h(6..8)[1..],
            &h(8..10)[1..],
            h(10..16)
        );
        (
            id,
            Change::PutMeta {
                key: "thing-serial".into(),
                value: n.to_string(),
            },
        )
    }

    pub fn create_thing(
        &self,
        name: &ThingName,
        req: CreateThingRequest,
        now: u64,
    ) -> Result<Planned<CreateThingResponse>> {
        let attributes = req.attribute_payload.unwrap_or_default().attributes;
        check_attributes(&attributes)?;
        let arn = self.arn.thing(name);
        if let Some(t) = self.things.get(name) {
            // Same name and same configuration: AWS answers as if created.
            if t.type_name == req.thing_type_name && t.attributes == attributes {
                let out = CreateThingResponse {
                    thing_name: name.clone(),
                    thing_arn: arn,
                    thing_id: t.id.clone(),
                };
                return Ok(Planned::new(out, vec![]));
            }
            return Err(RegistryError::ResourceAlreadyExists {
                message: format!(
                    "Thing {name} already exists in account with different attributes"
                ),
                resource_id: t.id.clone(),
                resource_arn: arn,
            });
        }
        let (id, serial) = self.new_thing_id(name, now);
        let thing = Thing {
            name: name.clone(),
            id: id.clone(),
            type_name: req.thing_type_name,
            attributes,
            version: 1,
        };
        let out = CreateThingResponse {
            thing_name: name.clone(),
            thing_arn: arn,
            thing_id: id,
        };
        Ok(Planned::new(out, vec![serial, Change::PutThing(thing)]))
    }

    pub fn describe_thing(&self, name: &ThingName) -> Result<DescribeThingResponse> {
        let t = self.thing_or_404(name)?;
        Ok(DescribeThingResponse {
            default_client_id: t.name.to_string(),
            thing_name: t.name.clone(),
            thing_id: t.id.clone(),
            thing_arn: self.arn.thing(&t.name),
            thing_type_name: t.type_name.clone(),
            attributes: t.attributes.clone(),
            version: t.version,
        })
    }

    pub fn list_things(&self, req: &ListThingsRequest) -> Result<ListThingsResponse> {
        let size = page_size(req.max_results, 250)?;
        let wanted = |t: &Thing| {
            if let Some(ty) = &req.thing_type_name {
                if t.type_name.as_ref().map(ThingTypeName::as_str) != Some(ty.as_str()) {
                    return false;
                }
            }
            match (&req.attribute_name, &req.attribute_value) {
                (Some(k), Some(v)) => t.attributes.get(k).is_some_and(|have| {
                    if req.use_prefix_attribute_value {
                        have.starts_with(v.as_str())
                    } else {
                        have == v
                    }
                }),
                (Some(k), None) => t.attributes.contains_key(k),
                _ => true,
            }
        };
        let items = self.things.values().filter(|t| wanted(t)).map(|t| {
            (
                t.name.as_str(),
                ThingSummary {
                    thing_name: t.name.clone(),
                    thing_type_name: t.type_name.clone(),
                    thing_arn: self.arn.thing(&t.name),
                    attributes: t.attributes.clone(),
                    version: t.version,
                },
            )
        });
        let (things, next_token) = page(items, req.next_token.as_deref(), size, false);
        Ok(ListThingsResponse { things, next_token })
    }

    pub fn update_thing(&self, name: &ThingName, req: UpdateThingRequest) -> Result<Planned<()>> {
        let t = self.thing_or_404(name)?;
        if let Some(v) = req.expected_version {
            if v != t.version {
                return Err(RegistryError::VersionConflict(format!(
                    "The version for thing {name} does not match the expected version."
                )));
            }
        }
        if req.remove_thing_type && req.thing_type_name.is_some() {
            return Err(RegistryError::InvalidRequest(
                "Cannot specify both a thing type name and removeThingType".into(),
            ));
        }
        let mut next = t.clone();
        if req.remove_thing_type {
            next.type_name = None;
        } else if let Some(ty) = req.thing_type_name {
            next.type_name = Some(ty);
        }
        if let Some(p) = req.attribute_payload {
            if p.merge {
                for (k, v) in p.attributes {
                    check_attribute_name(&k)?;
                    if v.is_empty() {
                        next.attributes.remove(&k);
                    } else {
                        check_attribute_value(&v)?;
                        next.attributes.insert(k, v);
                    }
                }
            } else {
                check_attributes(&p.attributes)?;
                next.attributes = p.attributes;
            }
            check_attributes(&next.attributes)?;
        }
        next.version += 1;
        Ok(Planned::new((), vec![Change::PutThing(next)]))
    }

    /// Deleting a thing that does not exist succeeds (as on AWS); one with
    /// certificates attached must have them detached first.
    pub fn delete_thing(
        &self,
        name: &ThingName,
        expected_version: Option<u64>,
    ) -> Result<Planned<()>> {
        let Some(t) = self.things.get(name) else {
            return Ok(Planned::new((), vec![]));
        };
        if let Some(v) = expected_version {
            if v != t.version {
                return Err(RegistryError::VersionConflict(format!(
                    "The version for thing {name} does not match the expected version."
                )));
            }
        }
        if self.thing_principals.count(name) > 0 {
            return Err(RegistryError::InvalidRequest(format!(
                "Cannot delete thing {name}: it has principals attached; detach them first (DetachThingPrincipal)"
            )));
        }
        Ok(Planned::new((), vec![Change::DeleteThing(name.clone())]))
    }
}
