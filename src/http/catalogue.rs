//! Catalogue routes: any key reads products; admins and sellers put them.

use super::AppState;
use super::dto::{ListProductsQuery, ProductPage, ProductView, PutProductBody};
use super::extract::{JsonBody, Params};
use super::problem::{Problem, ProblemBody};
use crate::auth::{AuditEntry, Caller, action};
use crate::domain::Timestamp;
use crate::domain::catalogue::{Product, Sku, check_name, check_unit_price};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

/// Active products, by sku.
#[utoipa::path(
    get, path = "/products", tag = "catalogue",
    params(ListProductsQuery),
    responses(
        (status = 200, body = ProductPage),
        (status = 400, description = "Bad paging", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn list_products(
    State(app): State<AppState>,
    Params(q): Params<ListProductsQuery>,
) -> Result<Json<ProductPage>, Problem> {
    let limit = super::limit(q.limit)?;
    let after = match q.after.as_deref() {
        None => None,
        Some(raw) => Some(
            Sku::parse(raw)
                .map_err(|e| Problem::invalid_request(format!("after {}.", e.message)))?,
        ),
    };
    let (products, more) = app.actors.active_products(after, limit).await?;
    let next_after = more
        .then(|| products.last().map(|p| p.sku.as_str().to_owned()))
        .flatten();
    Ok(Json(ProductPage {
        items: products.iter().map(ProductView::from).collect(),
        next_after,
    }))
}

/// One product, active or not.
#[utoipa::path(
    get, path = "/products/{sku}", tag = "catalogue",
    params(("sku" = String, Path, pattern = "^[a-z0-9._-]{1,64}$")),
    responses(
        (status = 200, body = ProductView),
        (status = 404, description = "No such product", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn get_product(
    State(app): State<AppState>,
    Path(sku): Path<String>,
) -> Result<Json<ProductView>, Problem> {
    let sku = Sku::parse(&sku).map_err(|_| Problem::not_found())?;
    let product = app.actors.product(sku).await?;
    Ok(Json(ProductView::from(&product)))
}

/// Make or replace a product (admin, seller); recorded in the audit log.
#[utoipa::path(
    put, path = "/admin/products/{sku}", tag = "catalogue",
    params(("sku" = String, Path, pattern = "^[a-z0-9._-]{1,64}$")),
    request_body = PutProductBody,
    responses(
        (status = 201, description = "Made", body = ProductView),
        (status = 200, description = "Changed", body = ProductView),
        (status = 400, description = "Malformed JSON, wrong types, unknown or missing fields", body = ProblemBody, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB", body = ProblemBody, content_type = "application/problem+json"),
        (status = 415, description = "Body is not application/json", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "Bad sku, name or unitPrice", body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "The store could not record it; nothing changed", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn put_product(
    State(app): State<AppState>,
    caller: Caller,
    Path(sku): Path<String>,
    JsonBody(body): JsonBody<PutProductBody>,
) -> Result<(StatusCode, Json<ProductView>), Problem> {
    let mut errors = Vec::new();
    let sku = Sku::parse(&sku).map_err(|e| errors.push(e)).ok();
    let _ = check_name(&body.name).map_err(|e| errors.push(e));
    let price = check_unit_price(body.unit_price)
        .map_err(|e| errors.push(e))
        .ok();
    let (Some(sku), Some(unit_price)) = (sku, price) else {
        return Err(Problem::validation(errors));
    };
    if !errors.is_empty() {
        return Err(Problem::validation(errors));
    }
    let product = Product {
        sku,
        name: body.name,
        unit_price,
        active: body.active.unwrap_or(true),
        updated_at: Timestamp::now(),
    };
    let audit = AuditEntry::by(
        caller.key_id(),
        action::PRODUCT_CHANGED,
        product.sku.as_str(),
    );
    let created = app.actors.put_product(product.clone(), audit).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(ProductView::from(&product))))
}
