//! Sensor management (admins): create one (with its first ingest token), change, delete, and
//! issue more tokens.

use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, Result, SimpleObject};

use super::types::Sensor;
use crate::darknet::sensor::{self, SensorInput};
use crate::db;
use crate::graphql::{node, state};

/// A new sensor.
#[derive(InputObject)]
pub struct CreateSensorInput {
    /// Its name, unique.
    pub name: String,
    /// The networks it watches (CIDRs, at most 256).
    #[graphql(default)]
    pub networks: Vec<String>,
    /// Where it is.
    pub location: Option<String>,
    /// Whether its lines are accepted; true when left out.
    pub enabled: Option<bool>,
}

/// Changes to a sensor; fields left out stay as they are.
#[derive(InputObject)]
pub struct UpdateSensorInput {
    /// The sensor.
    pub id: ID,
    /// A new name.
    pub name: Option<String>,
    /// New networks, as a whole.
    pub networks: Option<Vec<String>>,
    /// A new location (null clears it).
    pub location: MaybeUndefined<String>,
    /// Accept its lines, or refuse them.
    pub enabled: Option<bool>,
}

/// The sensor to delete.
#[derive(InputObject)]
pub struct DeleteSensorInput {
    /// A sensor that never sent an event (disable one that did).
    pub id: ID,
}

/// A new ingest token for a sensor.
#[derive(InputObject)]
pub struct CreateSensorTokenInput {
    /// The sensor.
    pub sensor_id: ID,
    /// What the token is for (e.g. the host it is installed on).
    pub name: String,
    /// Days until it expires; never when left out.
    pub expires_in_days: Option<u32>,
}

/// The sensor `createSensor` made, and its first token.
#[derive(SimpleObject)]
pub struct CreateSensorPayload {
    /// The new sensor.
    pub sensor: Sensor,
    /// Its first ingest token: shown here once, never again.
    pub token: String,
}

/// The sensor `updateSensor` changed.
#[derive(SimpleObject)]
pub struct UpdateSensorPayload {
    /// The sensor as it is now.
    pub sensor: Sensor,
}

/// What `deleteSensor` removed.
#[derive(SimpleObject)]
pub struct DeleteSensorPayload {
    /// The id of the deleted sensor.
    pub deleted_sensor_id: ID,
}

/// The token `createSensorToken` made.
#[derive(SimpleObject)]
pub struct CreateSensorTokenPayload {
    /// The token: shown here once, never again.
    pub token: String,
    /// Its id (revoke it with `revokeApiToken`).
    pub token_id: ID,
}

#[derive(Default)]
pub struct DarknetMutation;

#[Object]
impl DarknetMutation {
    /// Adds a sensor with its own account (role `sensor`, no password) and a first ingest
    /// token, shown once.
    async fn create_sensor(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Everything the mutation takes, as one input object.")]
        input: CreateSensorInput,
    ) -> Result<CreateSensorPayload> {
        let fields = SensorInput {
            name: Some(input.name),
            networks: Some(input.networks),
            location: Some(input.location),
            enabled: input.enabled,
        };
        let (made, token) = db::write(&state(ctx)?.db, move |txn| {
            let fields = fields.clone();
            Box::pin(async move { sensor::create(txn, fields).await })
        })
        .await?;
        Ok(CreateSensorPayload {
            sensor: Sensor(made),
            token,
        })
    }

    /// Changes a sensor; a disabled sensor's lines are refused.
    async fn update_sensor(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Everything the mutation takes, as one input object.")]
        input: UpdateSensorInput,
    ) -> Result<UpdateSensorPayload> {
        let id = node::decode(&input.id, "Sensor")?;
        let fields = SensorInput {
            name: input.name,
            networks: input.networks,
            location: match input.location {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(v) => Some(Some(v)),
            },
            enabled: input.enabled,
        };
        let changed = db::write(&state(ctx)?.db, move |txn| {
            let fields = fields.clone();
            Box::pin(async move { sensor::update(txn, id, fields).await })
        })
        .await?;
        Ok(UpdateSensorPayload {
            sensor: Sensor(changed),
        })
    }

    /// Deletes a sensor that never sent an event, with its account and tokens.
    async fn delete_sensor(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Everything the mutation takes, as one input object.")]
        input: DeleteSensorInput,
    ) -> Result<DeleteSensorPayload> {
        let id = node::decode(&input.id, "Sensor")?;
        db::write(&state(ctx)?.db, move |txn| {
            Box::pin(async move { sensor::delete(txn, id).await })
        })
        .await?;
        Ok(DeleteSensorPayload {
            deleted_sensor_id: input.id,
        })
    }

    /// Issues another ingest token for a sensor (to rotate one: issue, deploy, then revoke
    /// the old one).
    async fn create_sensor_token(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Everything the mutation takes, as one input object.")]
        input: CreateSensorTokenInput,
    ) -> Result<CreateSensorTokenPayload> {
        let id = node::decode(&input.sensor_id, "Sensor")?;
        let (name, days) = (input.name, input.expires_in_days);
        let (token, secret) = db::write(&state(ctx)?.db, move |txn| {
            let name = name.clone();
            Box::pin(async move {
                let s = sensor::get(txn, id)
                    .await?
                    .ok_or_else(|| crate::error::AppError::not_found("sensor"))?;
                sensor::token(txn, &s, &name, days).await
            })
        })
        .await?;
        Ok(CreateSensorTokenPayload {
            token: secret,
            token_id: node::encode("ApiToken", token.id),
        })
    }
}
