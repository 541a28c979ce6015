from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Site(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SITE_UNSPECIFIED: _ClassVar[Site]
    NICONICO: _ClassVar[Site]
    YOUTUBE: _ClassVar[Site]
    BILIBILI: _ClassVar[Site]

class CategoryKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CATEGORY_KIND_UNSPECIFIED: _ClassVar[CategoryKind]
    TAG: _ClassVar[CategoryKind]
    CHANNEL: _ClassVar[CategoryKind]
    PLAYLIST: _ClassVar[CategoryKind]

class VideoStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VIDEO_STATUS_UNSPECIFIED: _ClassVar[VideoStatus]
    PENDING: _ClassVar[VideoStatus]
    QUEUED: _ClassVar[VideoStatus]
    DOWNLOADING: _ClassVar[VideoStatus]
    UPLOADING: _ClassVar[VideoStatus]
    DONE: _ClassVar[VideoStatus]
    FAILED: _ClassVar[VideoStatus]
    SKIPPED: _ClassVar[VideoStatus]

class Approval(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    APPROVAL_UNSPECIFIED: _ClassVar[Approval]
    UNREVIEWED: _ClassVar[Approval]
    APPROVED: _ClassVar[Approval]
    REJECTED: _ClassVar[Approval]

class BreakerState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BREAKER_STATE_UNSPECIFIED: _ClassVar[BreakerState]
    CLOSED: _ClassVar[BreakerState]
    OPEN: _ClassVar[BreakerState]
    PROBING: _ClassVar[BreakerState]

class InstanceState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INSTANCE_STATE_UNSPECIFIED: _ClassVar[InstanceState]
    ALIVE: _ClassVar[InstanceState]
    DEAD: _ClassVar[InstanceState]
    STOPPED: _ClassVar[InstanceState]

class ImportOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    IMPORT_OUTCOME_UNSPECIFIED: _ClassVar[ImportOutcome]
    CREATED: _ClassVar[ImportOutcome]
    ALREADY_THERE: _ClassVar[ImportOutcome]
    REFUSED: _ClassVar[ImportOutcome]
SITE_UNSPECIFIED: Site
NICONICO: Site
YOUTUBE: Site
BILIBILI: Site
CATEGORY_KIND_UNSPECIFIED: CategoryKind
TAG: CategoryKind
CHANNEL: CategoryKind
PLAYLIST: CategoryKind
VIDEO_STATUS_UNSPECIFIED: VideoStatus
PENDING: VideoStatus
QUEUED: VideoStatus
DOWNLOADING: VideoStatus
UPLOADING: VideoStatus
DONE: VideoStatus
FAILED: VideoStatus
SKIPPED: VideoStatus
APPROVAL_UNSPECIFIED: Approval
UNREVIEWED: Approval
APPROVED: Approval
REJECTED: Approval
BREAKER_STATE_UNSPECIFIED: BreakerState
CLOSED: BreakerState
OPEN: BreakerState
PROBING: BreakerState
INSTANCE_STATE_UNSPECIFIED: InstanceState
ALIVE: InstanceState
DEAD: InstanceState
STOPPED: InstanceState
IMPORT_OUTCOME_UNSPECIFIED: ImportOutcome
CREATED: ImportOutcome
ALREADY_THERE: ImportOutcome
REFUSED: ImportOutcome

class DownloadProfile(_message.Message):
    __slots__ = ("max_height", "audio_only", "format", "subtitles", "automatic_subtitles", "uploaded_after", "uploaded_before", "min_duration_s", "max_duration_s", "exclude_live", "exclude_shorts", "title_match", "title_exclude")
    MAX_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    AUDIO_ONLY_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    SUBTITLES_FIELD_NUMBER: _ClassVar[int]
    AUTOMATIC_SUBTITLES_FIELD_NUMBER: _ClassVar[int]
    UPLOADED_AFTER_FIELD_NUMBER: _ClassVar[int]
    UPLOADED_BEFORE_FIELD_NUMBER: _ClassVar[int]
    MIN_DURATION_S_FIELD_NUMBER: _ClassVar[int]
    MAX_DURATION_S_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_LIVE_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_SHORTS_FIELD_NUMBER: _ClassVar[int]
    TITLE_MATCH_FIELD_NUMBER: _ClassVar[int]
    TITLE_EXCLUDE_FIELD_NUMBER: _ClassVar[int]
    max_height: int
    audio_only: bool
    format: str
    subtitles: _containers.RepeatedScalarFieldContainer[str]
    automatic_subtitles: bool
    uploaded_after: str
    uploaded_before: str
    min_duration_s: int
    max_duration_s: int
    exclude_live: bool
    exclude_shorts: bool
    title_match: str
    title_exclude: str
    def __init__(self, max_height: _Optional[int] = ..., audio_only: _Optional[bool] = ..., format: _Optional[str] = ..., subtitles: _Optional[_Iterable[str]] = ..., automatic_subtitles: _Optional[bool] = ..., uploaded_after: _Optional[str] = ..., uploaded_before: _Optional[str] = ..., min_duration_s: _Optional[int] = ..., max_duration_s: _Optional[int] = ..., exclude_live: _Optional[bool] = ..., exclude_shorts: _Optional[bool] = ..., title_match: _Optional[str] = ..., title_exclude: _Optional[str] = ...) -> None: ...

class ScheduleCategoryRequest(_message.Message):
    __slots__ = ("url", "user_id", "disable_download_cache", "site", "kind", "value", "profile")
    URL_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    DISABLE_DOWNLOAD_CACHE_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    url: str
    user_id: int
    disable_download_cache: bool
    site: Site
    kind: CategoryKind
    value: str
    profile: DownloadProfile
    def __init__(self, url: _Optional[str] = ..., user_id: _Optional[int] = ..., disable_download_cache: _Optional[bool] = ..., site: _Optional[_Union[Site, str]] = ..., kind: _Optional[_Union[CategoryKind, str]] = ..., value: _Optional[str] = ..., profile: _Optional[_Union[DownloadProfile, _Mapping]] = ...) -> None: ...

class ScheduleCategoryResponse(_message.Message):
    __slots__ = ("category_id", "created", "subscribed", "url", "profile")
    CATEGORY_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIBED_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    category_id: int
    created: bool
    subscribed: bool
    url: str
    profile: DownloadProfile
    def __init__(self, category_id: _Optional[int] = ..., created: _Optional[bool] = ..., subscribed: _Optional[bool] = ..., url: _Optional[str] = ..., profile: _Optional[_Union[DownloadProfile, _Mapping]] = ...) -> None: ...

class UpdateCategoryRequest(_message.Message):
    __slots__ = ("user_id", "category_id", "profile")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_ID_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    category_id: int
    profile: DownloadProfile
    def __init__(self, user_id: _Optional[int] = ..., category_id: _Optional[int] = ..., profile: _Optional[_Union[DownloadProfile, _Mapping]] = ...) -> None: ...

class UpdateCategoryResponse(_message.Message):
    __slots__ = ("category", "skipped", "restored")
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    RESTORED_FIELD_NUMBER: _ClassVar[int]
    category: Category
    skipped: int
    restored: int
    def __init__(self, category: _Optional[_Union[Category, _Mapping]] = ..., skipped: _Optional[int] = ..., restored: _Optional[int] = ...) -> None: ...

class ImportLine(_message.Message):
    __slots__ = ("user_id", "url", "profile", "disable_download_cache", "line")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    DISABLE_DOWNLOAD_CACHE_FIELD_NUMBER: _ClassVar[int]
    LINE_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    url: str
    profile: DownloadProfile
    disable_download_cache: bool
    line: int
    def __init__(self, user_id: _Optional[int] = ..., url: _Optional[str] = ..., profile: _Optional[_Union[DownloadProfile, _Mapping]] = ..., disable_download_cache: _Optional[bool] = ..., line: _Optional[int] = ...) -> None: ...

class ImportResult(_message.Message):
    __slots__ = ("line", "url", "outcome", "reason", "category_id", "category_created")
    LINE_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_ID_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_CREATED_FIELD_NUMBER: _ClassVar[int]
    line: int
    url: str
    outcome: ImportOutcome
    reason: str
    category_id: int
    category_created: bool
    def __init__(self, line: _Optional[int] = ..., url: _Optional[str] = ..., outcome: _Optional[_Union[ImportOutcome, str]] = ..., reason: _Optional[str] = ..., category_id: _Optional[int] = ..., category_created: _Optional[bool] = ...) -> None: ...

class ImportSubscriptionsResponse(_message.Message):
    __slots__ = ("results", "created", "already_there", "refused")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    ALREADY_THERE_FIELD_NUMBER: _ClassVar[int]
    REFUSED_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[ImportResult]
    created: int
    already_there: int
    refused: int
    def __init__(self, results: _Optional[_Iterable[_Union[ImportResult, _Mapping]]] = ..., created: _Optional[int] = ..., already_there: _Optional[int] = ..., refused: _Optional[int] = ...) -> None: ...

class ExportSubscriptionsRequest(_message.Message):
    __slots__ = ("user_id",)
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    def __init__(self, user_id: _Optional[int] = ...) -> None: ...

class Subscription(_message.Message):
    __slots__ = ("user_id", "category_id", "url", "profile", "disable_download_cache", "subscribed_at")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_ID_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    DISABLE_DOWNLOAD_CACHE_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIBED_AT_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    category_id: int
    url: str
    profile: DownloadProfile
    disable_download_cache: bool
    subscribed_at: str
    def __init__(self, user_id: _Optional[int] = ..., category_id: _Optional[int] = ..., url: _Optional[str] = ..., profile: _Optional[_Union[DownloadProfile, _Mapping]] = ..., disable_download_cache: _Optional[bool] = ..., subscribed_at: _Optional[str] = ...) -> None: ...

class ListCategoriesRequest(_message.Message):
    __slots__ = ("user_id",)
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    def __init__(self, user_id: _Optional[int] = ...) -> None: ...

class Category(_message.Message):
    __slots__ = ("id", "url", "website", "archived_videos", "total_videos", "undownloadable_videos", "last_synced", "backoff_factor", "subscribers", "next_sync", "disable_download_cache", "profile", "skipped_videos")
    ID_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    WEBSITE_FIELD_NUMBER: _ClassVar[int]
    ARCHIVED_VIDEOS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_VIDEOS_FIELD_NUMBER: _ClassVar[int]
    UNDOWNLOADABLE_VIDEOS_FIELD_NUMBER: _ClassVar[int]
    LAST_SYNCED_FIELD_NUMBER: _ClassVar[int]
    BACKOFF_FACTOR_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIBERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_SYNC_FIELD_NUMBER: _ClassVar[int]
    DISABLE_DOWNLOAD_CACHE_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_VIDEOS_FIELD_NUMBER: _ClassVar[int]
    id: int
    url: str
    website: str
    archived_videos: int
    total_videos: int
    undownloadable_videos: int
    last_synced: str
    backoff_factor: int
    subscribers: int
    next_sync: str
    disable_download_cache: bool
    profile: DownloadProfile
    skipped_videos: int
    def __init__(self, id: _Optional[int] = ..., url: _Optional[str] = ..., website: _Optional[str] = ..., archived_videos: _Optional[int] = ..., total_videos: _Optional[int] = ..., undownloadable_videos: _Optional[int] = ..., last_synced: _Optional[str] = ..., backoff_factor: _Optional[int] = ..., subscribers: _Optional[int] = ..., next_sync: _Optional[str] = ..., disable_download_cache: _Optional[bool] = ..., profile: _Optional[_Union[DownloadProfile, _Mapping]] = ..., skipped_videos: _Optional[int] = ...) -> None: ...

class ListCategoriesResponse(_message.Message):
    __slots__ = ("categories",)
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    categories: _containers.RepeatedCompositeFieldContainer[Category]
    def __init__(self, categories: _Optional[_Iterable[_Union[Category, _Mapping]]] = ...) -> None: ...

class ListEventsRequest(_message.Message):
    __slots__ = ("category_id", "show_all", "limit")
    CATEGORY_ID_FIELD_NUMBER: _ClassVar[int]
    SHOW_ALL_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    category_id: int
    show_all: bool
    limit: int
    def __init__(self, category_id: _Optional[int] = ..., show_all: _Optional[bool] = ..., limit: _Optional[int] = ...) -> None: ...

class Event(_message.Message):
    __slots__ = ("id", "category_id", "category_url", "video_id", "video_url", "message", "time")
    ID_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_ID_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_URL_FIELD_NUMBER: _ClassVar[int]
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    VIDEO_URL_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    id: int
    category_id: int
    category_url: str
    video_id: int
    video_url: str
    message: str
    time: str
    def __init__(self, id: _Optional[int] = ..., category_id: _Optional[int] = ..., category_url: _Optional[str] = ..., video_id: _Optional[int] = ..., video_url: _Optional[str] = ..., message: _Optional[str] = ..., time: _Optional[str] = ...) -> None: ...

class ListEventsResponse(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[Event]
    def __init__(self, events: _Optional[_Iterable[_Union[Event, _Mapping]]] = ...) -> None: ...

class UnsubscribeRequest(_message.Message):
    __slots__ = ("user_id", "category_id")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    category_id: int
    def __init__(self, user_id: _Optional[int] = ..., category_id: _Optional[int] = ...) -> None: ...

class UnsubscribeResponse(_message.Message):
    __slots__ = ("remaining_subscribers",)
    REMAINING_SUBSCRIBERS_FIELD_NUMBER: _ClassVar[int]
    remaining_subscribers: int
    def __init__(self, remaining_subscribers: _Optional[int] = ...) -> None: ...

class RetryFailedRequest(_message.Message):
    __slots__ = ("user_id", "category_id", "website")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_ID_FIELD_NUMBER: _ClassVar[int]
    WEBSITE_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    category_id: int
    website: str
    def __init__(self, user_id: _Optional[int] = ..., category_id: _Optional[int] = ..., website: _Optional[str] = ...) -> None: ...

class RetryFailedResponse(_message.Message):
    __slots__ = ("retried",)
    RETRIED_FIELD_NUMBER: _ClassVar[int]
    retried: int
    def __init__(self, retried: _Optional[int] = ...) -> None: ...

class ListDownloadsRequest(_message.Message):
    __slots__ = ("limit",)
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    limit: int
    def __init__(self, limit: _Optional[int] = ...) -> None: ...

class Download(_message.Message):
    __slots__ = ("video_id", "website", "foreign_id", "url", "status", "bytes_done", "bytes_total", "instance", "attempts", "instance_state", "category")
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    WEBSITE_FIELD_NUMBER: _ClassVar[int]
    FOREIGN_ID_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    BYTES_DONE_FIELD_NUMBER: _ClassVar[int]
    BYTES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_STATE_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    video_id: int
    website: str
    foreign_id: str
    url: str
    status: VideoStatus
    bytes_done: int
    bytes_total: int
    instance: str
    attempts: int
    instance_state: InstanceState
    category: str
    def __init__(self, video_id: _Optional[int] = ..., website: _Optional[str] = ..., foreign_id: _Optional[str] = ..., url: _Optional[str] = ..., status: _Optional[_Union[VideoStatus, str]] = ..., bytes_done: _Optional[int] = ..., bytes_total: _Optional[int] = ..., instance: _Optional[str] = ..., attempts: _Optional[int] = ..., instance_state: _Optional[_Union[InstanceState, str]] = ..., category: _Optional[str] = ...) -> None: ...

class ListDownloadsResponse(_message.Message):
    __slots__ = ("downloads",)
    DOWNLOADS_FIELD_NUMBER: _ClassVar[int]
    downloads: _containers.RepeatedCompositeFieldContainer[Download]
    def __init__(self, downloads: _Optional[_Iterable[_Union[Download, _Mapping]]] = ...) -> None: ...

class WatchDownloadsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CancelDownloadRequest(_message.Message):
    __slots__ = ("video_id", "fail")
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    FAIL_FIELD_NUMBER: _ClassVar[int]
    video_id: int
    fail: bool
    def __init__(self, video_id: _Optional[int] = ..., fail: _Optional[bool] = ...) -> None: ...

class CancelDownloadResponse(_message.Message):
    __slots__ = ("was_running",)
    WAS_RUNNING_FIELD_NUMBER: _ClassVar[int]
    was_running: bool
    def __init__(self, was_running: _Optional[bool] = ...) -> None: ...

class Video(_message.Message):
    __slots__ = ("id", "website", "foreign_id", "url", "title", "status", "approval", "category")
    ID_FIELD_NUMBER: _ClassVar[int]
    WEBSITE_FIELD_NUMBER: _ClassVar[int]
    FOREIGN_ID_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    APPROVAL_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    id: int
    website: str
    foreign_id: str
    url: str
    title: str
    status: VideoStatus
    approval: Approval
    category: str
    def __init__(self, id: _Optional[int] = ..., website: _Optional[str] = ..., foreign_id: _Optional[str] = ..., url: _Optional[str] = ..., title: _Optional[str] = ..., status: _Optional[_Union[VideoStatus, str]] = ..., approval: _Optional[_Union[Approval, str]] = ..., category: _Optional[str] = ...) -> None: ...

class ListUnapprovedVideosRequest(_message.Message):
    __slots__ = ("category_id", "limit")
    CATEGORY_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    category_id: int
    limit: int
    def __init__(self, category_id: _Optional[int] = ..., limit: _Optional[int] = ...) -> None: ...

class ListUnapprovedVideosResponse(_message.Message):
    __slots__ = ("videos",)
    VIDEOS_FIELD_NUMBER: _ClassVar[int]
    videos: _containers.RepeatedCompositeFieldContainer[Video]
    def __init__(self, videos: _Optional[_Iterable[_Union[Video, _Mapping]]] = ...) -> None: ...

class ApproveVideoRequest(_message.Message):
    __slots__ = ("video_id",)
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    video_id: int
    def __init__(self, video_id: _Optional[int] = ...) -> None: ...

class ApproveVideoResponse(_message.Message):
    __slots__ = ("video",)
    VIDEO_FIELD_NUMBER: _ClassVar[int]
    video: Video
    def __init__(self, video: _Optional[_Union[Video, _Mapping]] = ...) -> None: ...

class RejectVideoRequest(_message.Message):
    __slots__ = ("video_id",)
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    video_id: int
    def __init__(self, video_id: _Optional[int] = ...) -> None: ...

class RejectVideoResponse(_message.Message):
    __slots__ = ("video",)
    VIDEO_FIELD_NUMBER: _ClassVar[int]
    video: Video
    def __init__(self, video: _Optional[_Union[Video, _Mapping]] = ...) -> None: ...

class InferenceCategory(_message.Message):
    __slots__ = ("id", "tag", "category")
    ID_FIELD_NUMBER: _ClassVar[int]
    TAG_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    id: int
    tag: str
    category: str
    def __init__(self, id: _Optional[int] = ..., tag: _Optional[str] = ..., category: _Optional[str] = ...) -> None: ...

class ListInferenceCategoriesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListInferenceCategoriesResponse(_message.Message):
    __slots__ = ("inference_categories",)
    INFERENCE_CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    inference_categories: _containers.RepeatedCompositeFieldContainer[InferenceCategory]
    def __init__(self, inference_categories: _Optional[_Iterable[_Union[InferenceCategory, _Mapping]]] = ...) -> None: ...

class AddInferenceCategoryRequest(_message.Message):
    __slots__ = ("tag", "category")
    TAG_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    tag: str
    category: str
    def __init__(self, tag: _Optional[str] = ..., category: _Optional[str] = ...) -> None: ...

class AddInferenceCategoryResponse(_message.Message):
    __slots__ = ("inference_category", "created")
    INFERENCE_CATEGORY_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    inference_category: InferenceCategory
    created: bool
    def __init__(self, inference_category: _Optional[_Union[InferenceCategory, _Mapping]] = ..., created: _Optional[bool] = ...) -> None: ...

class GetStatsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class VideoCounts(_message.Message):
    __slots__ = ("website", "pending", "queued", "downloading", "uploading", "done", "failed", "oldest_pending", "skipped")
    WEBSITE_FIELD_NUMBER: _ClassVar[int]
    PENDING_FIELD_NUMBER: _ClassVar[int]
    QUEUED_FIELD_NUMBER: _ClassVar[int]
    DOWNLOADING_FIELD_NUMBER: _ClassVar[int]
    UPLOADING_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    OLDEST_PENDING_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    website: str
    pending: int
    queued: int
    downloading: int
    uploading: int
    done: int
    failed: int
    oldest_pending: str
    skipped: int
    def __init__(self, website: _Optional[str] = ..., pending: _Optional[int] = ..., queued: _Optional[int] = ..., downloading: _Optional[int] = ..., uploading: _Optional[int] = ..., done: _Optional[int] = ..., failed: _Optional[int] = ..., oldest_pending: _Optional[str] = ..., skipped: _Optional[int] = ...) -> None: ...

class Instance(_message.Message):
    __slots__ = ("id", "host", "pid", "version", "state", "started", "last_heartbeat", "workers", "downloads", "listings")
    ID_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STARTED_FIELD_NUMBER: _ClassVar[int]
    LAST_HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    WORKERS_FIELD_NUMBER: _ClassVar[int]
    DOWNLOADS_FIELD_NUMBER: _ClassVar[int]
    LISTINGS_FIELD_NUMBER: _ClassVar[int]
    id: str
    host: str
    pid: int
    version: str
    state: InstanceState
    started: str
    last_heartbeat: str
    workers: int
    downloads: int
    listings: int
    def __init__(self, id: _Optional[str] = ..., host: _Optional[str] = ..., pid: _Optional[int] = ..., version: _Optional[str] = ..., state: _Optional[_Union[InstanceState, str]] = ..., started: _Optional[str] = ..., last_heartbeat: _Optional[str] = ..., workers: _Optional[int] = ..., downloads: _Optional[int] = ..., listings: _Optional[int] = ...) -> None: ...

class GetStatsResponse(_message.Message):
    __slots__ = ("as_of", "categories", "total", "websites", "instances")
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    WEBSITES_FIELD_NUMBER: _ClassVar[int]
    INSTANCES_FIELD_NUMBER: _ClassVar[int]
    as_of: str
    categories: int
    total: VideoCounts
    websites: _containers.RepeatedCompositeFieldContainer[VideoCounts]
    instances: _containers.RepeatedCompositeFieldContainer[Instance]
    def __init__(self, as_of: _Optional[str] = ..., categories: _Optional[int] = ..., total: _Optional[_Union[VideoCounts, _Mapping]] = ..., websites: _Optional[_Iterable[_Union[VideoCounts, _Mapping]]] = ..., instances: _Optional[_Iterable[_Union[Instance, _Mapping]]] = ...) -> None: ...

class ListSitesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SiteState(_message.Message):
    __slots__ = ("site", "downloads", "listings", "interval_s", "breaker", "reason", "opened_at", "probe_at", "openings", "cookies_file", "cookie_domains", "cookies_expire_at", "cookies_problem")
    SITE_FIELD_NUMBER: _ClassVar[int]
    DOWNLOADS_FIELD_NUMBER: _ClassVar[int]
    LISTINGS_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_S_FIELD_NUMBER: _ClassVar[int]
    BREAKER_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    OPENED_AT_FIELD_NUMBER: _ClassVar[int]
    PROBE_AT_FIELD_NUMBER: _ClassVar[int]
    OPENINGS_FIELD_NUMBER: _ClassVar[int]
    COOKIES_FILE_FIELD_NUMBER: _ClassVar[int]
    COOKIE_DOMAINS_FIELD_NUMBER: _ClassVar[int]
    COOKIES_EXPIRE_AT_FIELD_NUMBER: _ClassVar[int]
    COOKIES_PROBLEM_FIELD_NUMBER: _ClassVar[int]
    site: str
    downloads: int
    listings: int
    interval_s: float
    breaker: BreakerState
    reason: str
    opened_at: str
    probe_at: str
    openings: int
    cookies_file: str
    cookie_domains: _containers.RepeatedScalarFieldContainer[str]
    cookies_expire_at: str
    cookies_problem: str
    def __init__(self, site: _Optional[str] = ..., downloads: _Optional[int] = ..., listings: _Optional[int] = ..., interval_s: _Optional[float] = ..., breaker: _Optional[_Union[BreakerState, str]] = ..., reason: _Optional[str] = ..., opened_at: _Optional[str] = ..., probe_at: _Optional[str] = ..., openings: _Optional[int] = ..., cookies_file: _Optional[str] = ..., cookie_domains: _Optional[_Iterable[str]] = ..., cookies_expire_at: _Optional[str] = ..., cookies_problem: _Optional[str] = ...) -> None: ...

class ListSitesResponse(_message.Message):
    __slots__ = ("sites",)
    SITES_FIELD_NUMBER: _ClassVar[int]
    sites: _containers.RepeatedCompositeFieldContainer[SiteState]
    def __init__(self, sites: _Optional[_Iterable[_Union[SiteState, _Mapping]]] = ...) -> None: ...

class ResetSiteRequest(_message.Message):
    __slots__ = ("site",)
    SITE_FIELD_NUMBER: _ClassVar[int]
    site: str
    def __init__(self, site: _Optional[str] = ...) -> None: ...

class ResetSiteResponse(_message.Message):
    __slots__ = ("site", "was_open")
    SITE_FIELD_NUMBER: _ClassVar[int]
    WAS_OPEN_FIELD_NUMBER: _ClassVar[int]
    site: str
    was_open: bool
    def __init__(self, site: _Optional[str] = ..., was_open: _Optional[bool] = ...) -> None: ...

class DiagnoseRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Finding(_message.Message):
    __slots__ = ("check", "ok", "detail", "fix")
    CHECK_FIELD_NUMBER: _ClassVar[int]
    OK_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    FIX_FIELD_NUMBER: _ClassVar[int]
    check: str
    ok: bool
    detail: str
    fix: str
    def __init__(self, check: _Optional[str] = ..., ok: _Optional[bool] = ..., detail: _Optional[str] = ..., fix: _Optional[str] = ...) -> None: ...

class DiagnoseResponse(_message.Message):
    __slots__ = ("findings", "healthy")
    FINDINGS_FIELD_NUMBER: _ClassVar[int]
    HEALTHY_FIELD_NUMBER: _ClassVar[int]
    findings: _containers.RepeatedCompositeFieldContainer[Finding]
    healthy: bool
    def __init__(self, findings: _Optional[_Iterable[_Union[Finding, _Mapping]]] = ..., healthy: _Optional[bool] = ...) -> None: ...
