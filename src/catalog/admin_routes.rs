//! `/admin/categories` handlers. Names are unique among siblings; moves may not create a
//! cycle or a tree deeper than [`MAX_CATEGORY_DEPTH`]. A category that products or
//! sub-categories use is not deleted silently: `DELETE` answers 409 naming the usage, unless
//! `?reassign_to=<id>` names a category to move them to first.

use crate::http::Path;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{post, put};
use axum::{Json, Router};
use serde::Deserialize;

use super::store;
use super::{Category, MAX_CATEGORY_DEPTH, validate_category_name};
use crate::clock::now_ms;
use crate::db::Conn;
use crate::http::{AdminUser, AppError, JsonBody, Query, nullable};
use crate::ids::{self, new_id};
use crate::state::AppState;

/// The OpenAPI description of these routes (paths as in [`router`], relative to `/api/v1`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(create, update, remove))]
pub struct Doc;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/categories", post(create))
        .route("/admin/categories/{id}", put(update).delete(remove))
}

fn not_found() -> AppError {
    AppError::not_found("category")
}

/// Changes to a category (`POST` reads the same fields, with `name` required): an absent
/// field keeps its value.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(default)]
struct CategoryBody {
    /// Unique among its siblings; 1–80 characters (trimmed), no control characters.
    #[schema(min_length = 1, max_length = 80, example = "Phones")]
    name: Option<String>,
    /// The parent category's id; `null` (or an empty string) makes the category top-level.
    /// Categories nest at most 5 levels deep.
    #[serde(deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, example = "0193a6c2-7b1e-7cc0-9a51-3f0c2d1e4b5a")]
    parent_id: Option<Option<String>>,
}

/// A new category: its name and, optionally, its parent.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct NewCategoryBody {
    /// Unique among its siblings; 1–80 characters (trimmed), no control characters.
    #[schema(min_length = 1, max_length = 80, example = "Phones")]
    name: String,
    /// The parent category's id; `null`, empty or absent makes the category top-level.
    /// Categories nest at most 5 levels deep.
    #[schema(example = "0193a6c2-7b1e-7cc0-9a51-3f0c2d1e4b5a")]
    parent_id: Option<String>,
}

/// Checks that `parent` can hold `id` (or a new category when `id` is `None`).
fn check_parent(c: &dyn Conn, id: Option<&str>, parent: Option<&str>) -> Result<(), AppError> {
    let Some(parent) = parent else { return Ok(()) };
    if !ids::is_valid(parent) || store::find_category(c, parent)?.is_none() {
        return Err(AppError::invalid_field("parent_id", "does not exist"));
    }
    let height = match id {
        Some(id) => {
            if store::is_in_subtree(c, id, parent)? {
                return Err(AppError::invalid_field(
                    "parent_id",
                    "cannot be the category itself or one of its sub-categories",
                ));
            }
            store::subtree_height(c, id)?
        }
        None => 1,
    };
    if store::category_depth(c, parent)? + height > MAX_CATEGORY_DEPTH {
        return Err(AppError::invalid_field(
            "parent_id",
            format!("categories nest at most {MAX_CATEGORY_DEPTH} levels deep"),
        ));
    }
    Ok(())
}

fn check_name_free(
    c: &dyn Conn,
    parent: Option<&str>,
    name: &str,
    except: Option<&str>,
) -> Result<(), AppError> {
    if store::sibling_name_taken(c, parent, name, except)? {
        return Err(AppError::conflict(
            "category_exists",
            "a category with this name already exists at this level",
        ));
    }
    Ok(())
}

/// Creates a category.
///
/// Admins only. The name must be free among the new category's siblings.
#[utoipa::path(
    post,
    path = "/admin/categories",
    tag = "catalog",
    security(("bearer" = [])),
    request_body = NewCategoryBody,
    responses(
        (status = 201, description = "The new category", body = Category),
        (status = 409, description = "A sibling already has this name (`category_exists`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 422, description = "A field failed validation, e.g. `parent_id` does not exist or would nest too deep", body = crate::http::openapi::ErrorEnvelope),
    )
)]
async fn create(
    State(state): State<AppState>,
    _admin: AdminUser,
    JsonBody(body): JsonBody<CategoryBody>,
) -> Result<(StatusCode, Json<Category>), AppError> {
    let name = validate_category_name(body.name.as_deref().unwrap_or_default())
        .map_err(|p| AppError::invalid_field("name", p))?;
    let parent = body
        .parent_id
        .flatten()
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty());
    let category = state
        .db
        .write(move |c| {
            check_parent(c, None, parent.as_deref())?;
            check_name_free(c, parent.as_deref(), &name, None)?;
            let id = new_id();
            store::insert_category(c, &id, &name, parent.as_deref(), now_ms())?;
            store::find_category(c, &id)?.ok_or_else(not_found)
        })
        .await?;
    Ok((StatusCode::CREATED, Json(category)))
}

/// Renames and/or moves a category.
///
/// Admins only. A move may not put a category under itself or one of its sub-categories, nor
/// make the tree deeper than 5 levels.
#[utoipa::path(
    put,
    path = "/admin/categories/{id}",
    tag = "catalog",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Category id")),
    request_body = CategoryBody,
    responses(
        (status = 200, description = "The category after the change", body = Category),
        (status = 409, description = "A sibling already has this name (`category_exists`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 422, description = "A field failed validation, e.g. `parent_id` does not exist, is the category itself or one of its sub-categories, or would nest too deep", body = crate::http::openapi::ErrorEnvelope),
    )
)]
async fn update(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<CategoryBody>,
) -> Result<Json<Category>, AppError> {
    if !ids::is_valid(&id) {
        return Err(not_found());
    }
    let name = match body.name.as_deref() {
        Some(n) => Some(validate_category_name(n).map_err(|p| AppError::invalid_field("name", p))?),
        None => None,
    };
    let category = state
        .db
        .write(move |c| {
            let current = store::find_category(c, &id)?.ok_or_else(not_found)?;
            let parent = match body.parent_id {
                None => current.parent_id.clone(),
                Some(p) => p.map(|p| p.trim().to_owned()).filter(|p| !p.is_empty()),
            };
            let name = name.unwrap_or(current.name);
            if parent != current.parent_id {
                check_parent(c, Some(&id), parent.as_deref())?;
            }
            check_name_free(c, parent.as_deref(), &name, Some(&id))?;
            store::update_category(c, &id, &name, parent.as_deref(), now_ms())?;
            store::find_category(c, &id)?.ok_or_else(not_found)
        })
        .await?;
    Ok(Json(category))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct DeleteQuery {
    /// A category to move the products and sub-categories of the deleted one to first. Needed
    /// only when the category is in use; must not be the category itself or one of its
    /// sub-categories.
    #[param(example = "0193a6c2-7b1e-7cc0-9a51-3f0c2d1e4b5a")]
    reassign_to: Option<String>,
}

/// Deletes a category.
///
/// Admins only. A category that products or sub-categories use answers 409
/// (`category_in_use`) unless `reassign_to` names a category to move them to first.
#[utoipa::path(
    delete,
    path = "/admin/categories/{id}",
    tag = "catalog",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Category id"), DeleteQuery),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "`reassign_to` names no category, or the category itself or one of its sub-categories (`invalid_query`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 409, description = "In use and no `reassign_to` given (`category_in_use`); or moving the sub-categories would clash with a name under the target (`category_exists`) or nest too deep (`too_deep`)", body = crate::http::openapi::ErrorEnvelope),
    )
)]
async fn remove(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(id): Path<String>,
    Query(q): Query<DeleteQuery>,
) -> Result<StatusCode, AppError> {
    if !ids::is_valid(&id) {
        return Err(not_found());
    }
    let target = q
        .reassign_to
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty());
    state
        .db
        .write(move |c| {
            store::find_category(c, &id)?.ok_or_else(not_found)?;
            let (products, children) = store::category_usage(c, &id)?;
            if products > 0 || children > 0 {
                let Some(target) = target else {
                    return Err(AppError::conflict(
                        "category_in_use",
                        format!(
                            "{products} products and {children} sub-categories use this category; \
                             move them first or pass ?reassign_to=<category id>"
                        ),
                    ));
                };
                if !ids::is_valid(&target) || store::find_category(c, &target)?.is_none() {
                    return Err(AppError::bad_request("invalid_query", "reassign_to: no such category"));
                }
                if store::is_in_subtree(c, &id, &target)? {
                    return Err(AppError::bad_request(
                        "invalid_query",
                        "reassign_to: must not be the category itself or one of its sub-categories",
                    ));
                }
                // Children move under the target: names must stay unique, depth bounded.
                let mut deepest_child = 0;
                for child in store::list_categories(c)?.iter().filter(|k| k.parent_id.as_deref() == Some(&id)) {
                    check_name_free(c, Some(&target), &child.name, Some(&child.id))?;
                    deepest_child = deepest_child.max(store::subtree_height(c, &child.id)?);
                }
                if store::category_depth(c, &target)? + deepest_child > MAX_CATEGORY_DEPTH {
                    return Err(AppError::conflict(
                        "too_deep",
                        format!("moving the sub-categories would nest deeper than {MAX_CATEGORY_DEPTH} levels"),
                    ));
                }
                store::reassign_category(c, &id, &target, now_ms())?;
            }
            store::delete_category(c, &id)?;
            Ok(())
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
