"""The demo zone of docs/domain.md §8: places, organisations, assignments, accounts and cases.

Named places come from the article in `../shared/seed/`; the rest is invented to read as
plausible. Codes are the stable keys that make `manage.py load_demo` idempotent. Coordinates
are WGS84 around the Tongliao development zone (about 43.62–43.66 N, 122.22–122.30 E).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

DEMO_PASSWORD = "demo12345"  # noqa: S105  (printed on screen: these accounts are for the demo)
# Assignments start on a fixed day, so a second run finds the same rows.
ASSIGNMENTS_FROM = datetime.date(2025, 3, 1)

# code, name, English name, sort order
DISTRICTS = (
    ("xincheng", "新城街道", "Xincheng Subdistrict", 10),
    ("binhe", "滨河街道", "Binhe Subdistrict", 20),
)

# code, district, name, English name, households, residents, latitude, longitude
# fmt: off
COMMUNITIES = (
    ("shuiyulanwan", "xincheng", "水域蓝湾社区", "Shuiyu Lanwan Community", 3860, 9700,
     "43.654500", "122.253000"),
    ("hepanhuayuan", "xincheng", "河畔花园社区", "Hepan Huayuan Community", 3120, 8050,
     "43.650800", "122.266500"),
    ("nadamu", "xincheng", "那达慕社区", "Nadamu Community", 2640, 6900,
     "43.658600", "122.241800"),
    ("mingde", "xincheng", "明德社区", "Mingde Community", 2210, 5800,
     "43.646200", "122.237500"),
    ("biguiyuan", "binhe", "碧桂园社区", "Country Garden Community", 4904, 12600,
     "43.628600", "122.281200"),
    ("jiajiahuayuan", "binhe", "佳家花园社区", "Jiajia Huayuan Community", 2980, 7600,
     "43.635400", "122.262300"),
    ("chezhan", "binhe", "车站社区", "Chezhan Community", 2470, 6100,
     "43.639300", "122.250600"),
    ("tongbei", "binhe", "通北社区", "Tongbei Community", 1850, 4700,
     "43.632800", "122.290400"),
)
# fmt: on

# code, community, point type, name, address, latitude, longitude
# fmt: off
POINTS = (
    # The nine morning and night markets; the first four are named in the article.
    ("market-shuiyulanwan", "shuiyulanwan", "NIGHT_MARKET", "水域蓝湾早夜市",
     "新城大街与世纪路交汇处西南", "43.653800", "122.254100"),
    ("market-hepanhuayuan", "hepanhuayuan", "NIGHT_MARKET", "河畔花园早夜市",
     "河畔花园小区南门外", "43.650300", "122.267200"),
    ("market-nadamu", "nadamu", "NIGHT_MARKET", "那达慕风情园夜市",
     "那达慕风情园东广场", "43.659000", "122.241000"),
    ("market-jiajiahuayuan", "jiajiahuayuan", "NIGHT_MARKET", "佳家花园早夜市",
     "佳家花园小区西侧路", "43.635200", "122.262000"),
    ("market-biguiyuan", "biguiyuan", "NIGHT_MARKET", "碧桂园便民市场",
     "滨河大道碧桂园北门", "43.628500", "122.281000"),
    ("market-chezhan", "chezhan", "NIGHT_MARKET", "车站早市",
     "车站后街东段", "43.639500", "122.250000"),
    ("market-tongbei", "tongbei", "NIGHT_MARKET", "通北便民早市",
     "通北路与创业路交汇处", "43.633000", "122.290500"),
    ("market-mingde", "mingde", "NIGHT_MARKET", "明德路早夜市",
     "明德路中段", "43.647000", "122.238000"),
    ("market-binhelu", "jiajiahuayuan", "NIGHT_MARKET", "滨河路夜市",
     "滨河路与科技路交汇处", "43.631800", "122.268400"),
    # The four old compounds under renovation this year.
    ("compound-zhelimu", "chezhan", "OLD_COMPOUND", "哲理木车站家属楼",
     "车站后街12号", "43.640100", "122.248800"),
    ("compound-tongbeiku", "tongbei", "OLD_COMPOUND", "通北库家属区",
     "通北路36号", "43.634100", "122.292200"),
    ("compound-nongyeju", "hepanhuayuan", "OLD_COMPOUND", "农业局家属楼",
     "世纪路58号", "43.649600", "122.264800"),
    ("compound-shiyan", "mingde", "OLD_COMPOUND", "实验初中教师楼",
     "明德路21号", "43.645500", "122.236200"),
    # Other points on the inspectors' rounds.
    ("bus-shijilu", "shuiyulanwan", "BUS_STOP", "世纪路水域蓝湾公交站",
     "世纪路水域蓝湾小区东门", "43.655200", "122.255600"),
    ("bus-binhedadao", "biguiyuan", "BUS_STOP", "滨河大道碧桂园公交站",
     "滨河大道碧桂园南门", "43.627400", "122.282600"),
    ("alley-shuiyulanwan", "shuiyulanwan", "BACK_ALLEY", "水域蓝湾北侧背街小巷",
     "水域蓝湾小区北墙外", "43.656300", "122.252400"),
    ("alley-chezhan", "chezhan", "BACK_ALLEY", "车站后街",
     "车站后街西段", "43.640600", "122.247300"),
    ("site-baozhangfang", "nadamu", "CONSTRUCTION", "开发区保障性住房项目工地",
     "创业路与那达慕街交汇处东北", "43.659400", "122.244900"),
    ("school-shiyan", "mingde", "SCHOOL_AREA", "开发区实验初中周边",
     "明德路实验初中校门", "43.645000", "122.234800"),
    ("road-xinchengdajie", "hepanhuayuan", "ROAD_MAIN", "新城大街(世纪路至创业路段)",
     "新城大街", "43.652100", "122.260300"),
    ("park-binhe", "biguiyuan", "PARK_SQUARE", "滨河公园",
     "滨河大道南侧", "43.624800", "122.279500"),
    ("toilet-binhe", "biguiyuan", "PUBLIC_TOILET", "滨河公园公厕",
     "滨河公园西门", "43.625200", "122.277900"),
    ("residential-biguiyuan", "biguiyuan", "RESIDENTIAL", "碧桂园小区",
     "滨河大道88号", "43.629400", "122.283300"),
    ("market-nongmao", "jiajiahuayuan", "WET_MARKET", "开发区农贸市场",
     "科技路16号", "43.636700", "122.264900"),
    ("hall-zhengwu", "nadamu", "SERVICE_HALL", "开发区政务服务中心",
     "那达慕街1号", "43.657400", "122.239600"),
)
# fmt: on

STREET_OFFICE = "street_office"
DEPARTMENT = "department"
COMMUNITY_OFFICE = "community_office"
PROPERTY_COMPANY = "property_company"
SUPERVISION_GROUP = "supervision_group"

# code, name, English name, kind, parent code, district code, contact, phone
# fmt: off
ORGANISATIONS = (
    ("office-xincheng", "新城街道办事处", "Xincheng Subdistrict Office", STREET_OFFICE, None,
     "xincheng", "王海峰", "0475-8211001"),
    ("office-binhe", "滨河街道办事处", "Binhe Subdistrict Office", STREET_OFFICE, None,
     "binhe", "陈晓东", "0475-8211002"),
    ("gongxin", "开发区工业和信息化局", "Bureau of Industry and Information Technology",
     DEPARTMENT, None, None, "梁万明", "0475-8212011"),
    ("jiaojing", "开发区交警大队", "Traffic Police Brigade", DEPARTMENT, None, None,
     "韩立新", "0475-8212122"),
    ("zhujian", "开发区住房和城乡建设局", "Housing and Urban-Rural Development Bureau",
     DEPARTMENT, None, None, "王志刚", "0475-8212033"),
    ("shichang", "开发区市场监督管理局", "Market Regulation Bureau", DEPARTMENT, None, None,
     "赵文静", "0475-8212044"),
    ("yuanlin", "开发区园林局", "Landscaping Bureau", DEPARTMENT, None, None,
     "包海军", "0475-8212055"),
    ("chengguan", "开发区城市管理综合执法局", "Urban Management and Law Enforcement Bureau",
     DEPARTMENT, None, None, "刘振华", "0475-8212066"),
    ("shizheng", "开发区市政设施管理处", "Municipal Facilities Office", DEPARTMENT, None, None,
     "孟庆国", "0475-8212077"),
    ("paishui", "开发区排水管理处", "Drainage Office", DEPARTMENT, None, None,
     "苏和", "0475-8212088"),
    ("huanwei", "开发区环境卫生服务中心", "Sanitation Service Centre", DEPARTMENT, None, None,
     "杨春梅", "0475-8212099"),
    ("aiwei", "开发区爱国卫生运动委员会办公室", "Patriotic Health Campaign Office", DEPARTMENT,
     None, None, "乌云其其格", "0475-8212100"),
    ("wuye-anju", "通辽市安居物业服务有限公司", "Anju Property Services Co., Ltd.",
     PROPERTY_COMPANY, None, None, "孙丽", "0475-8236655"),
    ("group-1", "第一专项督导组", "Special Supervision Group 1", SUPERVISION_GROUP, None, None,
     "高志强", ""),
    ("group-2", "第二专项督导组", "Special Supervision Group 2", SUPERVISION_GROUP, None, None,
     "白玉山", ""),
    ("group-3", "第三专项督导组", "Special Supervision Group 3", SUPERVISION_GROUP, None, None,
     "何建民", ""),
    ("group-4", "第四专项督导组", "Special Supervision Group 4", SUPERVISION_GROUP, None, None,
     "那日苏", ""),
    ("group-5", "第五专项督导组", "Special Supervision Group 5", SUPERVISION_GROUP, None, None,
     "田永军", ""),
)
# fmt: on
# Every community has its office (居委会), under the street office of its district.
COMMUNITY_OFFICE_SUFFIX = "居委会"

# A category's sector hint (taxonomy) -> the demo organisation that owns it zone-wide.
# "权属单位" (the owner of the manhole, which differs street by street) has no owner on purpose:
# it is one of the gaps the coverage page shows.
SECTOR_OWNERS = {
    "交警": "jiaojing",
    "住建": "zhujian",
    "城管": "chengguan",
    "城管/住建": "chengguan",
    "市场监管": "shichang",
    "园林": "yuanlin",
    "市政": "shizheng",
    "排水": "paishui",
    "环卫": "huanwei",
    "爱卫": "aiwei",
    "兜底": "chengguan",
}

# Paired (包联) assignments: organisation, community or point code, lead person, phone.
PAIRED = (
    ("gongxin", "community", "shuiyulanwan", "梁万明", "13904751234"),
    ("shichang", "community", "hepanhuayuan", "赵文静", "13904752345"),
    ("yuanlin", "community", "nadamu", "包海军", "13904753456"),
    ("zhujian", "community", "biguiyuan", "王志刚", "13904754567"),
    ("chengguan", "community", "chezhan", "刘振华", "13904755678"),
    ("zhujian", "point", "compound-zhelimu", "王志刚", "13904754567"),
    ("wuye-anju", "point", "compound-nongyeju", "孙丽", "13804756789"),
)
# Communities whose office was not given a territorial assignment: routing falls back to the
# street office. (通北社区 was split off recently in this story.)
COMMUNITIES_WITHOUT_OWN_TERRITORIAL = ("tongbei",)
# Organisations deliberately left without a handler account: the coverage page lists them.
ORGANISATIONS_WITHOUT_HANDLER = ("paishui",)


@dataclass(frozen=True)
class Account:
    """A demo login: username, full name, role and scope."""

    username: str
    full_name: str
    role: str
    districts: tuple[str, ...] = ()
    all_districts: bool = False
    organisation: str | None = None
    superuser: bool = False
    phone: str = ""


# fmt: off
ACCOUNTS = (
    Account("admin", "周建华", "admin", all_districts=True, superuser=True,
            phone="13904750001"),
    Account("lingdao", "李东升", "leader", all_districts=True, phone="13904750002"),
    Account("dudao", "高志强", "supervisor", all_districts=True, organisation="group-1",
            phone="13904750003"),
    Account("dudao_binhe", "白玉山", "supervisor", districts=("binhe",), organisation="group-2",
            phone="13904750004"),
    Account("xunchayuan", "张伟", "inspector", districts=("xincheng",), organisation="group-3",
            phone="13904750005"),
    Account("xunchayuan2", "李娜", "inspector", districts=("binhe",), organisation="group-4",
            phone="13904750006"),
    Account("liangwanming", "梁万明", "handler", organisation="gongxin", phone="13904751234"),
)
# fmt: on
# Handlers for every other organisation holding an assignment are named jbr_<code> (经办人).
HANDLER_PREFIX = "jbr_"
# fmt: off
HANDLER_NAMES = (
    "王磊", "刘洋", "陈静", "杨帆", "赵敏", "黄鑫", "周婷", "吴昊", "徐丽", "孙浩",
    "马超", "朱琳", "胡斌", "郭蕾", "林峰", "何雪", "高鹏", "罗娟", "梁晨", "宋佳",
)
# fmt: on


# --- demo cases --------------------------------------------------------------------------------
#
# Times are working hours (see devtools/demo/timeline.py): a case is reported `ago` working hours
# before the last working moment and each step comes `after` working hours after the previous
# one, so the whole story happens in office hours on working days, whenever the demo is loaded.
# Deadlines are always the category's own; only extensions ask for more working days.

DAY = 7.5  # working hours in a working day (08:30–12:00, 13:30–17:30)


@dataclass(frozen=True)
class Step:
    """One service call of a demo case, `after` working hours after the step before it."""

    action: str
    after: float = 0.5
    actor: str | None = None  # username; defaults by action (supervisor, handler, reporter)
    organisation: str | None = None
    text: str = ""
    review_in_days: int = 0
    duplicate_of: str = ""
    level: int = 0
    photos: int = 0
    # Escalation: not before the deadline plus this many allowed times has passed (0: the
    # deadline itself), as the reminder job waits for 催办, 督办函 and 挂牌督办.
    overdue: float | None = None
    # Extension: working days asked beyond the current deadline; None: as many as the case's
    # light needs.
    extend_days: int | None = None


@dataclass(frozen=True)
class Case:
    """A demo issue: where, what, who reported it and the steps that brought it to its state."""

    key: str
    reporter: str
    category: str
    point: str
    description: str
    ago: float  # working hours before now it was reported (moved when `light` needs it)
    steps: tuple[Step, ...] = field(default_factory=tuple)
    photos: int = 1
    # The timer light an open case shows when the demo loads: green, yellow or red.
    light: str | None = None


def _closed_normally(organisation: str, verifier: str | None = None, pace: float = 1.0) -> tuple:
    """Dispatch, acknowledge, fix and pass verification, over the working hours after the report.

    `pace` below 1 compresses the story for urgent categories, counted in natural hours.
    """
    return (
        Step("dispatch", 0.5 * pace, organisation=organisation),
        Step("acknowledge", 1 * pace, text="已签收,安排人员处置"),
        Step("submit_fix", 1.5 * pace, text="已按要求整改完毕", photos=1),
        Step("verify_pass", 2 * pace, actor=verifier, text="现场核查,整改到位", photos=1),
    )


CASES: tuple[Case, ...] = (
    # --- closed, over the last weeks ---------------------------------------------------------
    Case(
        "garbage-market-shuiyulanwan",
        "xunchayuan",
        "GARBAGE_EXPOSED",
        "market-shuiyulanwan",
        "早市收市后摊位周边散落塑料袋、菜叶,未及时清扫。",
        16 * DAY + 3,
        _closed_normally("office-shuiyulanwan"),
    ),
    Case(
        "road-dirty-xinchengdajie",
        "xunchayuan",
        "ROAD_DIRTY",
        "road-xinchengdajie",
        "新城大街南侧人行道路沿石积土,有卫生死角。",
        14 * DAY + 2,
        _closed_normally("office-hepanhuayuan"),
    ),
    Case(
        "frontage-xinchengdajie",
        "xunchayuan",
        "FRONTAGE_DUTY",
        "road-xinchengdajie",
        "沿街商铺门前卫生不洁,未悬挂门前三包责任牌。",
        12 * DAY + 4,
        _closed_normally("office-xincheng"),
    ),
    Case(
        "market-order-jiajia",
        "xunchayuan2",
        "MARKET_ORDER",
        "market-jiajiahuayuan",
        "早夜市摊位超出划线范围,占用机动车道经营。",
        11 * DAY + 1,
        _closed_normally("office-jiajiahuayuan"),
    ),
    Case(
        "psa-bus-shijilu",
        "xunchayuan",
        "PSA_DAMAGED",
        "bus-shijilu",
        "公交站台公益广告褪色破损,部分画面缺失。",
        10 * DAY + 2,
        _closed_normally("gongxin", verifier="xunchayuan"),
    ),
    Case(
        "fire-lane-biguiyuan",
        "xunchayuan2",
        "FIRE_LANE",
        "residential-biguiyuan",
        "3号楼东侧消防通道被私家车和杂物堵塞。",
        9 * DAY + 5,
        _closed_normally("office-biguiyuan", pace=0.3),
    ),
    Case(
        "streetlight-shiyan",
        "xunchayuan",
        "STREETLIGHT",
        "compound-shiyan",
        "教师楼2单元楼道灯不亮,夜间居民上下楼不便。",
        8 * DAY + 3,
        _closed_normally("shizheng", verifier="xunchayuan"),
    ),
    Case(
        "small-ad-garage",
        "xunchayuan",
        "SMALL_AD",
        "alley-shuiyulanwan",
        "小区车库门上乱贴小广告,已现场清除。",
        7 * DAY + 2,
        (Step("fix_on_spot", 0.5, text="会同包联单位现场清除小广告", photos=1),),
    ),
    Case(
        "ebike-bus-shijilu",
        "xunchayuan",
        "EBIKE_PARKING",
        "bus-shijilu",
        "公交站台前共享单车乱停放,影响乘客上下车。",
        6 * DAY + 3,
        (Step("fix_on_spot", 0.2, text="已现场摆放整齐", photos=1),),
    ),
    Case(
        "incivility-park",
        "xunchayuan2",
        "INCIVILITY",
        "park-binhe",
        "公园内有人遛狗不牵绳,已劝导。",
        5 * DAY + 6,
        (Step("fix_on_spot", 0.1, text="现场劝导,当事人已牵绳", photos=1),),
    ),
    Case(
        "debris-nongyeju-rework",
        "xunchayuan",
        "DEBRIS_PILE",
        "compound-nongyeju",
        "楼前楼后堆放陈年破烂,占用公共通道。",
        6 * DAY + 1,
        (
            Step("dispatch", 0.5, organisation="office-hepanhuayuan"),
            Step("acknowledge", 1.5),
            Step("submit_fix", 1 * DAY, text="已组织清理", photos=1),
            Step("verify_fail", 2, text="楼后仍有杂物未清走,需彻底清理", photos=1),
            Step("submit_fix", 5, text="楼前楼后已全部清理,陈年破烂已清运", photos=1),
            Step("verify_pass", 2, text="复查通过", photos=1),
        ),
    ),
    Case(
        "toilet-binhe-reopened",
        "xunchayuan2",
        "TOILET_DIRTY",
        "toilet-binhe",
        "公厕男厕异味大,洗手池无水。",
        4 * DAY + 6,
        (
            *_closed_normally("huanwei"),
            Step("reopen", 3 * DAY, text="问题复发:洗手池再次无水,地面积水"),
        ),
    ),
    # --- rejected, duplicate, cancelled -----------------------------------------------------
    Case(
        "bin-rejected",
        "xunchayuan2",
        "BIN_OVERFLOW",
        "market-biguiyuan",
        "垃圾桶满溢。",
        3 * DAY + 4,
        (Step("reject", 1, text="照片与上报位置不符,无法核实,请重新上报"),),
    ),
    Case(
        "site-dust-baozhangfang",
        "xunchayuan",
        "SITE_DUST",
        "site-baozhangfang",
        "工地裸露土方未覆盖,出入口未冲洗车辆,有扬尘。",
        2 * DAY + 5,
        (
            Step("dispatch", 1, organisation="zhujian"),
            Step("acknowledge", 2, text="已通知施工单位整改"),
            Step("submit_fix", 1 * DAY, text="土方已全部覆盖,增设冲洗平台", photos=2),
        ),
    ),
    Case(
        "psa-site-duplicate",
        "xunchayuan",
        "PSA_DAMAGED",
        "site-baozhangfang",
        "工地围挡公益广告占比不足。",
        2 * DAY + 3,  # after site-dust-baozhangfang, which it duplicates
        (
            Step(
                "mark_duplicate",
                1,
                duplicate_of="site-dust-baozhangfang",
                text="同一工地围挡问题已立案处理",
            ),
        ),
    ),
    Case(
        "waterlogging-cancelled",
        "xunchayuan2",
        "WATERLOGGING",
        "alley-chezhan",
        "车站后街西段路面积水。",
        2 * DAY + 1,
        (Step("cancel", 1, text="雨停后积水已自然消退,经核实无需处置"),),
    ),
    # --- open with a running clock: green, yellow, red -------------------------------------
    Case(
        "car-park-bus-binhe",
        "xunchayuan2",
        "CAR_ILLEGAL_PARK",
        "bus-binhedadao",
        "公交港湾内有私家车违停,公交车无法进站。",
        3.5,
        (
            Step("dispatch", 0.3, organisation="jiaojing"),
            Step("escalate", 0.5, overdue=0, level=1, text="已超时,请尽快处置"),
        ),
        light="red",
    ),
    Case(
        "zombie-car-tongbei",
        "xunchayuan2",
        "UNLICENSED_VEHICLE",
        "market-tongbei",
        "早市入口处长期停放无牌僵尸车一辆,车身积灰。",
        12 * DAY + 2,
        (
            Step("dispatch", 1, organisation="jiaojing"),
            Step("acknowledge", 1 * DAY, text="已签收,联系车主中"),
            Step("escalate", 1, overdue=0, level=1, text="已超期,请加快处置"),
            Step("escalate", 1, overdue=1, level=2, text="超期未处置,发督办函"),
        ),
        light="red",
    ),
    Case(
        "market-hygiene-nongmao",
        "xunchayuan2",
        "MARKET_HYGIENE",
        "market-nongmao",
        "农贸市场未划行归市,“五公示”缺失,部分摊位无垃圾桶。",
        5 * DAY + 2,
        (
            Step("dispatch", 1, organisation="shichang"),
            Step("acknowledge", 4),
            Step("escalate", 1, overdue=0, level=1),
            Step("escalate", 1, overdue=1, level=2, text="多次催办未整改"),
            Step("escalate", 1, overdue=2, level=3, text="挂牌督办,限期整改"),
        ),
        light="red",
    ),
    Case(
        "garbage-biguiyuan-overdue",
        "xunchayuan2",
        "GARBAGE_EXPOSED",
        "residential-biguiyuan",
        "小区西侧垃圾桶站周边暴露垃圾,有异味。",
        2 * DAY + 4,
        (
            Step("dispatch", 1, organisation="office-biguiyuan"),
            Step("escalate", 1, overdue=0, level=1),
        ),
        light="red",
    ),
    Case(
        "market-order-nadamu",
        "xunchayuan",
        "MARKET_ORDER",
        "market-nadamu",
        "夜市收市后场地未清理,油污严重。",
        1 * DAY,
        (Step("dispatch", 1, organisation="office-nadamu"),),
        light="yellow",
    ),
    Case(
        "fly-wire-tongbeiku",
        "xunchayuan2",
        "FLY_WIRE",
        "compound-tongbeiku",
        "3号楼二楼窗口飞线给电动车充电,存在火灾隐患。",
        3.5,
        (
            Step("dispatch", 0.3, organisation="office-binhe"),
            Step("acknowledge", 0.7, text="已联系住户"),
        ),
        light="yellow",
    ),
    Case(
        "food-stall-biguiyuan",
        "xunchayuan2",
        "FOOD_STALL",
        "market-biguiyuan",
        "烧烤摊未亮证经营,无防蝇防尘设施。",
        2 * DAY + 2,
        (Step("dispatch", 1, organisation="shichang"),),
        light="yellow",
    ),
    Case(
        "old-facility-nongyeju-extended",
        "xunchayuan",
        "OLD_FACILITY",
        "compound-nongyeju",
        "农业局家属楼单元门禁损坏,楼道扶手松动。",
        40 * DAY,
        (
            Step("dispatch", 1, organisation="wuye-anju"),
            Step("acknowledge", 2, text="已签收,配件需定制"),
            Step(
                "request_extension",
                5 * DAY,
                text="门禁配件需厂家定制,到货后安装,申请延期",
            ),
            Step("approve_extension", 1, text="同意延期,请按期完成"),
        ),
        light="yellow",
    ),
    Case(
        "shop-outside-xinchengdajie",
        "xunchayuan",
        "SHOP_OUTSIDE",
        "road-xinchengdajie",
        "水果店将货架摆出店外,占用人行道。",
        1,
        (
            Step("dispatch", 0.2, organisation="office-xincheng"),
            Step("acknowledge", 0.3),
        ),
        light="green",
    ),
    Case(
        "ebike-school-shiyan",
        "xunchayuan",
        "EBIKE_PARKING",
        "school-shiyan",
        "校门口电动车乱停放,占用盲道。",
        0.7,
        (Step("dispatch", 0.2, organisation="office-mingde"),),
        light="green",
    ),
    Case(
        "road-damage-chezhan",
        "xunchayuan2",
        "ROAD_DAMAGE",
        "alley-chezhan",
        "车站后街人行道砖松动破损,多处坑洼。",
        1 * DAY + 3,
        (Step("dispatch", 1, organisation="shizheng"),),
        light="green",
    ),
    Case(
        "old-facility-zhelimu",
        "xunchayuan2",
        "OLD_FACILITY",
        "compound-zhelimu",
        "家属楼单元门破损无法关闭,院内路面破损。",
        3 * DAY + 2,
        (
            Step("dispatch", 1, organisation="zhujian"),
            Step("acknowledge", 1 * DAY, text="已纳入老旧小区改造工程一并实施"),
        ),
        light="green",
    ),
    Case(
        "vector-nongmao",
        "xunchayuan2",
        "VECTOR",
        "market-nongmao",
        "市场后院发现鼠迹,下水口缺少挡鼠网。",
        1 * DAY + 1,
        (Step("dispatch", 1, organisation="aiwei"),),
        light="green",
    ),
    Case(
        "waterlogging-xinchengdajie",
        "xunchayuan",
        "WATERLOGGING",
        "road-xinchengdajie",
        "新城大街与世纪路口雨水箅子堵塞,路面积水。",
        2,
        # Urgent: the category's four hours, counted day and night (排水 has no handler yet).
        (Step("dispatch", 0.2, organisation="paishui"),),
    ),
    # --- rework in progress, returned and re-dispatched, extensions, parked ---------------
    Case(
        "debris-zhelimu-rework",
        "xunchayuan2",
        "DEBRIS_PILE",
        "compound-zhelimu",
        "楼道内堆放纸箱、旧家具等杂物。",
        3 * DAY + 4,
        (
            Step("dispatch", 1, organisation="office-binhe"),
            Step("acknowledge", 2),
            Step("submit_fix", 1 * DAY, text="已清理", photos=1),
            Step("verify_fail", 1 * DAY, text="3单元楼道仍有旧家具未清走", photos=1),
        ),
    ),
    Case(
        "constr-waste-returned",
        "xunchayuan",
        "CONSTR_WASTE",
        "site-baozhangfang",
        "工地东侧路边倾倒建筑垃圾约5立方米。",
        1 * DAY + 6,
        (
            Step("dispatch", 1, organisation="chengguan"),
            Step("return", 3, text="系施工单位倾倒,应由住建局督促施工单位清运"),
            Step("dispatch", 2, organisation="zhujian"),
        ),
    ),
    Case(
        "green-occupied-biguiyuan",
        "xunchayuan2",
        "GREEN_OCCUPIED",
        "residential-biguiyuan",
        "小区南侧公共绿地被居民毁绿种菜。",
        2 * DAY + 6,
        (
            Step("dispatch", 1, organisation="yuanlin"),
            Step("acknowledge", 2),
            Step(
                "request_extension",
                1 * DAY + 3,
                extend_days=5,
                text="需与居民协商后恢复绿化,申请延期",
            ),
        ),
    ),
    Case(
        "green-dirty-park",
        "xunchayuan2",
        "GREEN_DIRTY",
        "park-binhe",
        "公园东侧树坑黄土裸露,绿地内有垃圾。",
        2 * DAY + 3,
        (
            Step("dispatch", 1, organisation="yuanlin"),
            Step("acknowledge", 2),
            Step("request_extension", 3, extend_days=3, text="覆绿苗木需外购,申请延期三天"),
            Step("approve_extension", 1, text="同意延期"),
        ),
        light="green",
    ),
    Case(
        "illegal-build-tongbeiku",
        "xunchayuan2",
        "ILLEGAL_BUILD",
        "compound-tongbeiku",
        "家属区院内私搭彩钢房一处,约20平方米。",
        6 * DAY + 2,
        (
            Step("dispatch", 1, organisation="chengguan"),
            Step("acknowledge", 4),
            Step(
                "park",
                1 * DAY + 4,
                review_in_days=30,
                text="需履行法定拆除程序,待老旧小区改造时一并拆除",
            ),
        ),
    ),
    Case(
        "bin-overflow-biguiyuan",
        "xunchayuan2",
        "BIN_OVERFLOW",
        "market-biguiyuan",
        "便民市场北侧垃圾桶满溢,桶盖破损。",
        1 * DAY + 5,
        (
            Step("dispatch", 1, organisation="office-biguiyuan"),
            Step("acknowledge", 1),
            Step("submit_fix", 4, text="已清运并更换新桶", photos=1),
        ),
    ),
    # --- just reported, waiting for triage ---------------------------------------------------
    Case(
        "car-park-xinchengdajie",
        "xunchayuan",
        "CAR_ILLEGAL_PARK",
        "road-xinchengdajie",
        "路口机动车占用人行道停放,影响行人通行。",
        0.5,
    ),
    Case(
        "vending-school-shiyan",
        "xunchayuan",
        "STREET_VENDING",
        "school-shiyan",
        "放学时段校门口有流动摊贩售卖无包装食品。",
        1.2,
        photos=2,
    ),
    Case(
        "manhole-xinchengdajie",
        "xunchayuan",
        "MANHOLE",
        "road-xinchengdajie",
        "人行道上井盖破损下陷,存在安全隐患。",
        0.8,
    ),
    Case(
        "ad-sign-hepan",
        "xunchayuan",
        "AD_SIGN",
        "market-hepanhuayuan",
        "市场入口处广告牌破损缺字,有脱落风险。",
        3,
    ),
)
