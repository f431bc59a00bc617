//! The backend the pages' server functions reach through context: each call
//! goes to the same use case (`ops`) the JSON API calls, as the caller.

use super::*;

/// Server functions' way into the use cases.
pub struct ServerBackend {
    pub(super) state: AppState,
}

impl ServerBackend {
    async fn ctx(&self, req: &Request) -> Result<Ctx, AppError> {
        Ctx::from_request(&self.state, &req.headers, client_addr(req))
            .await
            .map_err(AppError::from)
    }
}

fn login(o: LoginOutcome) -> Login {
    Login {
        me: o.me,
        set_cookie: o.set_cookie,
    }
}

#[async_trait]
impl Backend for ServerBackend {
    async fn engines(&self, req: &Request) -> Result<EnginesReport, AppError> {
        {
            let ctx = self.ctx(req).await?;
            Ok(ops::system::engines(&self.state, &ctx).await?)
        }
    }

    async fn about(&self, req: &Request) -> Result<About, AppError> {
        {
            let ctx = self.ctx(req).await?;
            Ok(ops::system::about(&self.state, &ctx).await?)
        }
    }

    async fn me(&self, req: &Request) -> Result<Option<Me>, AppError> {
        Ok(self.ctx(req).await?.principal.map(|p| p.me()))
    }

    async fn setup_state(&self) -> Result<SetupState, AppError> {
        Ok(ops::accounts::setup_state(&self.state).await?)
    }

    async fn setup(&self, req: &Request, input: SetupInput) -> Result<Login, AppError> {
        {
            let ctx = self.ctx(req).await?;
            Ok(ops::accounts::setup(&self.state, &ctx, input).await?)
        }
        .map(login)
    }

    async fn login(&self, req: &Request, input: LoginInput) -> Result<Login, AppError> {
        {
            let ctx = self.ctx(req).await?;
            Ok(ops::accounts::login(&self.state, &ctx, input).await?)
        }
        .map(login)
    }

    async fn logout(&self, req: &Request) -> Result<String, AppError> {
        {
            let ctx = self.ctx(req).await?;
            Ok(ops::accounts::logout(&self.state, &ctx).await?)
        }
    }

    async fn change_password(
        &self,
        req: &Request,
        input: ChangePasswordInput,
    ) -> Result<(), AppError> {
        {
            let ctx = self.ctx(req).await?;
            Ok(ops::accounts::change_password(&self.state, &ctx, input).await?)
        }
    }

    async fn sessions(&self, req: &Request) -> Result<Vec<SessionView>, AppError> {
        {
            let ctx = self.ctx(req).await?;
            Ok(ops::accounts::sessions(&self.state, &ctx).await?)
        }
    }

    async fn revoke_session(&self, req: &Request, id: i64) -> Result<(), AppError> {
        {
            let ctx = self.ctx(req).await?;
            Ok(ops::accounts::revoke_session(&self.state, &ctx, id).await?)
        }
    }

    async fn users(&self, req: &Request) -> Result<Vec<UserView>, AppError> {
        {
            let ctx = self.ctx(req).await?;
            Ok(ops::users::list(&self.state, &ctx).await?)
        }
    }

    async fn create_user(
        &self,
        req: &Request,
        input: CreateUserInput,
    ) -> Result<UserView, AppError> {
        {
            let ctx = self.ctx(req).await?;
            Ok(ops::users::create(&self.state, &ctx, input).await?)
        }
    }

    async fn update_user(
        &self,
        req: &Request,
        id: i64,
        input: UpdateUserInput,
    ) -> Result<UserView, AppError> {
        {
            let ctx = self.ctx(req).await?;
            Ok(ops::users::update(&self.state, &ctx, id, input).await?)
        }
    }

    async fn delete_user(&self, req: &Request, id: i64) -> Result<(), AppError> {
        {
            let ctx = self.ctx(req).await?;
            Ok(ops::users::delete(&self.state, &ctx, id).await?)
        }
    }

    async fn teams(&self, req: &Request) -> Result<Vec<TeamView>, AppError> {
        {
            let ctx = self.ctx(req).await?;
            Ok(ops::teams::list(&self.state, &ctx).await?)
        }
    }

    async fn create_team(
        &self,
        req: &Request,
        input: CreateTeamInput,
    ) -> Result<TeamView, AppError> {
        {
            let ctx = self.ctx(req).await?;
            Ok(ops::teams::create(&self.state, &ctx, input).await?)
        }
    }

    async fn delete_team(&self, req: &Request, id: i64) -> Result<(), AppError> {
        {
            let ctx = self.ctx(req).await?;
            Ok(ops::teams::delete(&self.state, &ctx, id).await?)
        }
    }

    async fn set_member(
        &self,
        req: &Request,
        team: i64,
        user: i64,
        input: SetMemberInput,
    ) -> Result<TeamView, AppError> {
        {
            let ctx = self.ctx(req).await?;
            Ok(ops::teams::set_member(&self.state, &ctx, team, user, input).await?)
        }
    }

    async fn remove_member(
        &self,
        req: &Request,
        team: i64,
        user: i64,
    ) -> Result<TeamView, AppError> {
        {
            let ctx = self.ctx(req).await?;
            Ok(ops::teams::remove_member(&self.state, &ctx, team, user).await?)
        }
    }

    async fn add_domain(
        &self,
        req: &Request,
        team: i64,
        domain: String,
    ) -> Result<TeamView, AppError> {
        let ctx = self.ctx(req).await?;
        Ok(ops::teams::add_domain(&self.state, &ctx, team, AddDomainInput { domain }).await?)
    }

    async fn remove_domain(
        &self,
        req: &Request,
        team: i64,
        domain: String,
    ) -> Result<TeamView, AppError> {
        let ctx = self.ctx(req).await?;
        Ok(ops::teams::remove_domain(&self.state, &ctx, team, &domain).await?)
    }

    async fn secrets(&self, req: &Request, team: i64) -> Result<Vec<SecretView>, AppError> {
        let ctx = self.ctx(req).await?;
        Ok(ops::secrets::list(&self.state, &ctx, team).await?)
    }

    async fn set_secret(
        &self,
        req: &Request,
        team: i64,
        name: String,
        input: SetSecretInput,
    ) -> Result<SecretSet, AppError> {
        let ctx = self.ctx(req).await?;
        Ok(ops::secrets::set(&self.state, &ctx, team, &name, input).await?)
    }

    async fn delete_secret(&self, req: &Request, team: i64, name: String) -> Result<(), AppError> {
        let ctx = self.ctx(req).await?;
        Ok(ops::secrets::delete(&self.state, &ctx, team, &name).await?)
    }

    async fn tokens(&self, req: &Request) -> Result<Vec<TokenView>, AppError> {
        {
            let ctx = self.ctx(req).await?;
            Ok(ops::tokens::list(&self.state, &ctx).await?)
        }
    }

    async fn create_token(
        &self,
        req: &Request,
        input: CreateTokenInput,
    ) -> Result<NewToken, AppError> {
        {
            let ctx = self.ctx(req).await?;
            Ok(ops::tokens::create(&self.state, &ctx, input).await?)
        }
    }

    async fn revoke_token(&self, req: &Request, id: i64) -> Result<(), AppError> {
        {
            let ctx = self.ctx(req).await?;
            Ok(ops::tokens::revoke(&self.state, &ctx, id).await?)
        }
    }

    async fn hosts(&self, req: &Request) -> Result<Vec<HostView>, AppError> {
        let ctx = self.ctx(req).await?;
        Ok(ops::hosts::list(&self.state, &ctx).await?)
    }

    async fn host(&self, req: &Request, name: String) -> Result<HostDetail, AppError> {
        let ctx = self.ctx(req).await?;
        Ok(ops::hosts::detail(&self.state, &ctx, &name).await?)
    }

    async fn add_host(&self, req: &Request, input: AddHostInput) -> Result<HostView, AppError> {
        let ctx = self.ctx(req).await?;
        Ok(ops::hosts::add(&self.state, &ctx, input).await?)
    }

    async fn update_host(
        &self,
        req: &Request,
        name: String,
        input: UpdateHostInput,
    ) -> Result<HostView, AppError> {
        let ctx = self.ctx(req).await?;
        Ok(ops::hosts::update(&self.state, &ctx, &name, input).await?)
    }

    async fn schedule_host(
        &self,
        req: &Request,
        name: String,
        what: String,
    ) -> Result<HostView, AppError> {
        let ctx = self.ctx(req).await?;
        let what = match what.as_str() {
            "cordon" => Schedule::Cordon,
            "uncordon" => Schedule::Uncordon,
            "drain" => Schedule::Drain,
            other => {
                return Err(AppError::new(
                    "invalid",
                    format!("unknown host action {other:?}"),
                ))
            }
        };
        Ok(ops::hosts::schedule(&self.state, &ctx, &name, what).await?)
    }

    async fn remove_host(&self, req: &Request, name: String, force: bool) -> Result<(), AppError> {
        let ctx = self.ctx(req).await?;
        Ok(ops::hosts::remove(&self.state, &ctx, &name, force).await?)
    }

    async fn events(&self, req: &Request, query: EventQuery) -> Result<EventPage, AppError> {
        let ctx = self.ctx(req).await?;
        Ok(ops::events::list(&self.state, &ctx, query).await?)
    }

    async fn services(&self, req: &Request) -> Result<Vec<ServiceView>, AppError> {
        let ctx = self.ctx(req).await?;
        Ok(ops::services::list(&self.state, &ctx).await?)
    }

    async fn service(&self, req: &Request, name: String) -> Result<ServiceDetail, AppError> {
        let ctx = self.ctx(req).await?;
        Ok(ops::services::detail(&self.state, &ctx, &name).await?)
    }

    async fn create_service(
        &self,
        req: &Request,
        input: CreateServiceInput,
    ) -> Result<ServiceView, AppError> {
        let ctx = self.ctx(req).await?;
        Ok(ops::services::create(&self.state, &ctx, input).await?)
    }

    async fn deploy_service(
        &self,
        req: &Request,
        name: String,
        input: DeployInput,
    ) -> Result<ServiceView, AppError> {
        let ctx = self.ctx(req).await?;
        Ok(ops::services::deploy(&self.state, &ctx, &name, input).await?)
    }

    async fn scale_service(
        &self,
        req: &Request,
        name: String,
        input: ScaleInput,
    ) -> Result<ServiceView, AppError> {
        let ctx = self.ctx(req).await?;
        Ok(ops::services::scale(&self.state, &ctx, &name, input).await?)
    }

    async fn delete_service(
        &self,
        req: &Request,
        name: String,
        delete_volumes: bool,
    ) -> Result<(), AppError> {
        let ctx = self.ctx(req).await?;
        Ok(ops::services::delete(&self.state, &ctx, &name, delete_volumes).await?)
    }

    async fn service_logs(
        &self,
        req: &Request,
        name: String,
        slot: u32,
        tail: Option<u32>,
    ) -> Result<ReplicaLogs, AppError> {
        let ctx = self.ctx(req).await?;
        Ok(ops::services::logs(&self.state, &ctx, &name, slot, tail).await?)
    }

    async fn service_stats(
        &self,
        req: &Request,
        name: String,
    ) -> Result<Vec<ReplicaStats>, AppError> {
        let ctx = self.ctx(req).await?;
        Ok(ops::services::stats(&self.state, &ctx, &name).await?)
    }

    async fn set_service_proxy(
        &self,
        req: &Request,
        name: String,
        input: ProxyConfig,
    ) -> Result<ServiceView, AppError> {
        let ctx = self.ctx(req).await?;
        Ok(ops::services::set_proxy(&self.state, &ctx, &name, input).await?)
    }

    async fn rollback_service(
        &self,
        req: &Request,
        name: String,
        input: RollbackInput,
    ) -> Result<ServiceView, AppError> {
        let ctx = self.ctx(req).await?;
        Ok(ops::services::rollback(&self.state, &ctx, &name, input).await?)
    }

    async fn control_rollout(
        &self,
        req: &Request,
        name: String,
        what: String,
    ) -> Result<ServiceView, AppError> {
        let ctx = self.ctx(req).await?;
        let what = match what.as_str() {
            "pause" => RolloutControl::Pause,
            "resume" => RolloutControl::Resume,
            "abort" => RolloutControl::Abort,
            other => {
                return Err(AppError::new(
                    "invalid",
                    format!("unknown rollout action {other:?}"),
                ))
            }
        };
        Ok(ops::services::control_rollout(&self.state, &ctx, &name, what).await?)
    }

    async fn revision_diff(
        &self,
        req: &Request,
        name: String,
        from: i64,
        to: i64,
    ) -> Result<RevisionDiff, AppError> {
        let ctx = self.ctx(req).await?;
        Ok(ops::services::diff(&self.state, &ctx, &name, from, to).await?)
    }

    async fn rollouts(&self, req: &Request) -> Result<Vec<RolloutView>, AppError> {
        let ctx = self.ctx(req).await?;
        Ok(ops::services::active_rollouts(&self.state, &ctx).await?)
    }

    async fn volumes(
        &self,
        req: &Request,
        service: Option<String>,
        host: Option<String>,
    ) -> Result<Vec<VolumeView>, AppError> {
        let ctx = self.ctx(req).await?;
        let filter = ops::volumes::VolumeFilter { service, host };
        Ok(ops::volumes::list(&self.state, &ctx, &filter).await?)
    }

    async fn delete_volume(
        &self,
        req: &Request,
        host: String,
        name: String,
    ) -> Result<(), AppError> {
        let ctx = self.ctx(req).await?;
        Ok(ops::volumes::delete(&self.state, &ctx, &host, &name).await?)
    }

    async fn move_replica(
        &self,
        req: &Request,
        service: String,
        slot: u32,
    ) -> Result<String, AppError> {
        let ctx = self.ctx(req).await?;
        Ok(ops::volumes::move_replica(&self.state, &ctx, &service, slot).await?)
    }

    async fn proxy(&self, req: &Request) -> Result<ProxyView, AppError> {
        let ctx = self.ctx(req).await?;
        Ok(ops::proxy::view(&self.state, &ctx).await?)
    }

    async fn nginx_conf(&self, req: &Request, listen: Option<String>) -> Result<String, AppError> {
        let ctx = self.ctx(req).await?;
        Ok(ops::proxy::nginx_conf(&self.state, &ctx, listen.as_deref()).await?)
    }

    async fn audit(&self, req: &Request, query: AuditQuery) -> Result<AuditPage, AppError> {
        {
            let ctx = self.ctx(req).await?;
            Ok(ops::audit::list(&self.state, &ctx, query).await?)
        }
    }
}
