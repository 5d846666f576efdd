"""Real economy codes, names, groups and capitals: the public reference data the synthetic
statistics hang on.

Codes, names, regions, income groups and lending types follow the World Bank's country
list (about 2021); capitals and coordinates are approximate. Populations (millions, about
2020) only anchor the synthetic series, so magnitudes look right: China and India near
1.4 billion, Tuvalu near 11,000.

Flags: O OECD member, P OECD partner (both appear in the OECD dataflows), E EU member,
Z euro area, B Central Europe and the Baltics, A Arab World, F fragile and conflict
affected, H heavily indebted poor, L least developed, W Africa Western and Central.
"""

from __future__ import annotations

# (id, iso2code, value): the real region, income and lending code triples.
REGIONS: dict[str, tuple[str, str]] = {
    "EAS": ("Z4", "East Asia & Pacific"),
    "ECS": ("Z7", "Europe & Central Asia"),
    "LCN": ("ZJ", "Latin America & Caribbean "),  # the trailing space is the API's
    "MEA": ("ZQ", "Middle East & North Africa"),
    "NAC": ("XU", "North America"),
    "SAS": ("8S", "South Asia"),
    "SSF": ("ZG", "Sub-Saharan Africa "),
}
# A developing economy's admin region: its region without the high-income members.
ADMIN_REGIONS: dict[str, tuple[str, str, str]] = {
    "EAS": ("EAP", "4E", "East Asia & Pacific (excluding high income)"),
    "ECS": ("ECA", "7E", "Europe & Central Asia (excluding high income)"),
    "LCN": ("LAC", "XJ", "Latin America & Caribbean (excluding high income)"),
    "MEA": ("MNA", "XQ", "Middle East & North Africa (excluding high income)"),
    "SAS": ("SAS", "8S", "South Asia"),
    "SSF": ("SSA", "ZF", "Sub-Saharan Africa (excluding high income)"),
}
INCOMES: dict[str, tuple[str, str]] = {
    "HIC": ("XD", "High income"),
    "UMC": ("XT", "Upper middle income"),
    "LMC": ("XN", "Lower middle income"),
    "LIC": ("XM", "Low income"),
}
LENDING: dict[str, tuple[str, str]] = {
    "IBD": ("XF", "IBRD"),
    "IDB": ("XH", "Blend"),
    "IDX": ("XI", "IDA"),
    "LNX": ("XX", "Not classified"),
}

# ISO3 ISO2 region income lending flags|name|capital|longitude|latitude|population (millions)
ECONOMIES = """\
AUS AU EAS HIC LNX O|Australia|Canberra|149.129|-35.282|25.7
BRN BN EAS HIC LNX -|Brunei Darussalam|Bandar Seri Begawan|114.946|4.94199|0.44
KHM KH EAS LMC IDX L|Cambodia|Phnom Penh|104.874|11.5556|16.7
CHN CN EAS UMC IBD P|China|Beijing|116.286|40.0495|1411
FJI FJ EAS UMC IDB -|Fiji|Suva|178.399|-18.1149|0.9
HKG HK EAS HIC LNX -|Hong Kong SAR, China||114.109|22.3964|7.5
IDN ID EAS LMC IBD P|Indonesia|Jakarta|106.83|-6.19752|273.5
JPN JP EAS HIC LNX O|Japan|Tokyo|139.77|35.67|125.8
KIR KI EAS LMC IDX FL|Kiribati|Tarawa|172.979|1.32905|0.12
PRK KP EAS LIC LNX -|Korea, Dem. People's Rep.|Pyongyang|125.754|39.0319|25.8
KOR KR EAS HIC LNX O|Korea, Rep.|Seoul|126.957|37.5323|51.8
LAO LA EAS LMC IDX L|Lao PDR|Vientiane|102.177|18.5826|7.3
MAC MO EAS HIC LNX -|Macao SAR, China||113.55|22.1667|0.65
MYS MY EAS UMC IBD P|Malaysia|Kuala Lumpur|101.684|3.12433|32.4
MHL MH EAS UMC IDX F|Marshall Islands|Majuro|171.135|7.11046|0.06
FSM FM EAS LMC IDX F|Micronesia, Fed. Sts.|Palikir|158.185|6.91771|0.11
MNG MN EAS LMC IDB -|Mongolia|Ulaanbaatar|106.937|47.9129|3.3
MMR MM EAS LMC IDX FL|Myanmar|Naypyidaw|95.956|21.914|54.4
NRU NR EAS HIC LNX -|Nauru|Yaren District|166.921|-0.5477|0.012
NZL NZ EAS HIC LNX O|New Zealand|Wellington|174.776|-41.2865|5.1
PLW PW EAS UMC IBD -|Palau|Koror|134.479|7.34194|0.018
PNG PG EAS LMC IDB F|Papua New Guinea|Port Moresby|147.194|-9.47357|9.0
PHL PH EAS LMC IBD -|Philippines|Manila|121.035|14.5515|109.6
WSM WS EAS LMC IDX -|Samoa|Apia|-171.752|-13.8314|0.2
SGP SG EAS HIC LNX P|Singapore|Singapore|103.85|1.28941|5.7
SLB SB EAS LMC IDX FL|Solomon Islands|Honiara|159.949|-9.42676|0.69
THA TH EAS UMC IBD P|Thailand|Bangkok|100.521|13.7308|69.8
TLS TL EAS LMC IDB FL|Timor-Leste|Dili|125.567|-8.56667|1.3
TON TO EAS UMC IDX -|Tonga|Nuku'alofa|-175.216|-21.136|0.1
TUV TV EAS UMC IDX FL|Tuvalu|Funafuti|179.09|-8.63149|0.011
VUT VU EAS LMC IDX -|Vanuatu|Port-Vila|168.321|-17.7404|0.31
VNM VN EAS LMC IBD P|Viet Nam|Hanoi|105.825|21.0069|97.3
ALB AL ECS UMC IBD -|Albania|Tirane|19.8172|41.3317|2.8
AND AD ECS HIC LNX -|Andorra|Andorra la Vella|1.5218|42.5075|0.077
ARM AM ECS UMC IBD -|Armenia|Yerevan|44.509|40.1596|2.96
AUT AT ECS HIC LNX OEZ|Austria|Vienna|16.3798|48.2201|8.9
AZE AZ ECS UMC IBD -|Azerbaijan|Baku|49.8932|40.3834|10.1
BLR BY ECS UMC IBD -|Belarus|Minsk|27.5766|53.9678|9.4
BEL BE ECS HIC LNX OEZ|Belgium|Brussels|4.36761|50.8371|11.5
BIH BA ECS UMC IBD -|Bosnia and Herzegovina|Sarajevo|18.4214|43.8607|3.3
BGR BG ECS UMC IBD EBP|Bulgaria|Sofia|23.3238|42.7105|6.9
HRV HR ECS HIC LNX EBZP|Croatia|Zagreb|15.9614|45.8069|4.0
CYP CY ECS HIC LNX EZP|Cyprus|Nicosia|33.3736|35.1676|1.2
CZE CZ ECS HIC LNX OEB|Czechia|Prague|14.4205|50.0878|10.7
DNK DK ECS HIC LNX OE|Denmark|Copenhagen|12.5681|55.6763|5.8
EST EE ECS HIC LNX OEZB|Estonia|Tallinn|24.7586|59.4392|1.3
FRO FO ECS HIC LNX -|Faroe Islands|Torshavn|-6.91181|61.8926|0.05
FIN FI ECS HIC LNX OEZ|Finland|Helsinki|24.9525|60.1608|5.5
FRA FR ECS HIC LNX OEZ|France|Paris|2.35097|48.8566|67.6
GEO GE ECS UMC IBD -|Georgia|Tbilisi|44.793|41.71|3.7
DEU DE ECS HIC LNX OEZ|Germany|Berlin|13.4115|52.5235|83.2
GRC GR ECS HIC LNX OEZ|Greece|Athens|23.7166|37.9792|10.7
GRL GL ECS HIC LNX -|Greenland|Nuuk|-51.7214|64.1836|0.056
HUN HU ECS HIC LNX OEB|Hungary|Budapest|19.0408|47.4984|9.7
ISL IS ECS HIC LNX O|Iceland|Reykjavik|-21.8952|64.1353|0.37
IRL IE ECS HIC LNX OEZ|Ireland|Dublin|-6.26749|53.3441|5.0
IMN IM ECS HIC LNX -|Isle of Man|Douglas|-4.47928|54.1509|0.085
ITA IT ECS HIC LNX OEZ|Italy|Rome|12.4823|41.8955|59.1
KAZ KZ ECS UMC IBD -|Kazakhstan|Astana|71.4382|51.1879|19.0
XKX XK ECS UMC IDX F|Kosovo|Pristina|20.926|42.565|1.8
KGZ KG ECS LMC IDX -|Kyrgyz Republic|Bishkek|74.6057|42.8851|6.7
LVA LV ECS HIC LNX OEZB|Latvia|Riga|24.1048|56.9465|1.9
LIE LI ECS HIC LNX -|Liechtenstein|Vaduz|9.52148|47.1411|0.039
LTU LT ECS HIC LNX OEZB|Lithuania|Vilnius|25.2799|54.6896|2.8
LUX LU ECS HIC LNX OEZ|Luxembourg|Luxembourg|6.1296|49.61|0.64
MDA MD ECS UMC IDB -|Moldova|Chisinau|28.8497|47.0167|2.6
MCO MC ECS HIC LNX -|Monaco|Monaco|7.41891|43.7325|0.039
MNE ME ECS UMC IBD -|Montenegro|Podgorica|19.2595|42.4602|0.62
NLD NL ECS HIC LNX OEZ|Netherlands|Amsterdam|4.89095|52.3738|17.5
MKD MK ECS UMC IBD -|North Macedonia|Skopje|21.4361|42.0024|2.1
NOR NO ECS HIC LNX O|Norway|Oslo|10.7387|59.9138|5.4
POL PL ECS HIC LNX OEB|Poland|Warsaw|21.02|52.26|37.8
PRT PT ECS HIC LNX OEZ|Portugal|Lisbon|-9.13552|38.7072|10.3
ROU RO ECS HIC LNX EBP|Romania|Bucharest|26.0979|44.4479|19.1
RUS RU ECS UMC IBD P|Russian Federation|Moscow|37.6176|55.7558|144.1
SMR SM ECS HIC LNX -|San Marino|San Marino|12.4486|43.9322|0.034
SRB RS ECS UMC IBD -|Serbia|Belgrade|20.4656|44.8024|6.9
SVK SK ECS HIC LNX OEZB|Slovak Republic|Bratislava|17.1073|48.1484|5.5
SVN SI ECS HIC LNX OEZB|Slovenia|Ljubljana|14.5044|46.0546|2.1
ESP ES ECS HIC LNX OEZ|Spain|Madrid|-3.70327|40.4167|47.4
SWE SE ECS HIC LNX OE|Sweden|Stockholm|18.0645|59.3327|10.4
CHE CH ECS HIC LNX O|Switzerland|Bern|7.44821|46.948|8.6
TJK TJ ECS LMC IDX -|Tajikistan|Dushanbe|68.7864|38.5878|9.5
TUR TR ECS UMC IBD O|Turkiye|Ankara|32.3606|39.7153|84.3
TKM TM ECS UMC IBD -|Turkmenistan|Ashgabat|58.3794|37.9509|6.1
UKR UA ECS LMC IBD -|Ukraine|Kyiv|30.5038|50.4536|44.1
GBR GB ECS HIC LNX O|United Kingdom|London|-0.126236|51.5002|67.1
UZB UZ ECS LMC IDB -|Uzbekistan|Tashkent|69.269|41.3052|34.2
ATG AG LCN HIC IBD -|Antigua and Barbuda|Saint John's|-61.8456|17.1175|0.097
ARG AR LCN UMC IBD P|Argentina|Buenos Aires|-58.4173|-34.6118|45.4
ABW AW LCN HIC LNX -|Aruba|Oranjestad|-70.0167|12.5167|0.107
BHS BS LCN HIC LNX -|Bahamas, The|Nassau|-77.339|25.0661|0.39
BRB BB LCN HIC LNX -|Barbados|Bridgetown|-59.6105|13.0935|0.28
BLZ BZ LCN UMC IBD -|Belize|Belmopan|-88.7713|17.2534|0.4
BOL BO LCN LMC IBD -|Bolivia|La Paz|-66.1936|-13.9908|11.9
BRA BR LCN UMC IBD P|Brazil|Brasilia|-47.9292|-15.7801|213.2
VGB VG LCN HIC LNX -|British Virgin Islands|Road Town|-64.6208|18.4167|0.03
CYM KY LCN HIC LNX -|Cayman Islands|George Town|-81.3857|19.3022|0.066
CHL CL LCN HIC LNX O|Chile|Santiago|-70.6475|-33.475|19.3
COL CO LCN UMC IBD O|Colombia|Bogota|-74.082|4.60987|50.9
CRI CR LCN UMC IBD O|Costa Rica|San Jose|-84.0089|9.63701|5.1
CUB CU LCN UMC LNX -|Cuba|Havana|-82.3667|23.1333|11.3
CUW CW LCN HIC LNX -|Curacao|Willemstad|-68.9335|12.1034|0.155
DMA DM LCN UMC IDB -|Dominica|Roseau|-61.39|15.2976|0.072
DOM DO LCN UMC IBD -|Dominican Republic|Santo Domingo|-69.8908|18.479|10.8
ECU EC LCN UMC IBD -|Ecuador|Quito|-78.5243|-0.229498|17.6
SLV SV LCN LMC IBD -|El Salvador|San Salvador|-89.2073|13.7034|6.3
GRD GD LCN UMC IDB -|Grenada|Saint George's|-61.7449|12.0653|0.11
GTM GT LCN UMC IBD -|Guatemala|Guatemala City|-90.5328|14.6248|16.9
GUY GY LCN UMC IDX -|Guyana|Georgetown|-58.1548|6.80461|0.79
HTI HT LCN LMC IDX FHL|Haiti|Port-au-Prince|-72.3288|18.5392|11.4
HND HN LCN LMC IDB H|Honduras|Tegucigalpa|-87.4667|15.1333|9.9
JAM JM LCN UMC IBD -|Jamaica|Kingston|-76.792|17.9927|2.96
MEX MX LCN UMC IBD O|Mexico|Mexico City|-99.1276|19.427|128.9
NIC NI LCN LMC IDX H|Nicaragua|Managua|-86.2734|12.1475|6.6
PAN PA LCN HIC IBD -|Panama|Panama City|-79.5188|8.99427|4.3
PRY PY LCN UMC IBD -|Paraguay|Asuncion|-57.6362|-25.3005|7.1
PER PE LCN UMC IBD P|Peru|Lima|-77.0465|-12.0931|33.0
PRI PR LCN HIC LNX -|Puerto Rico|San Juan|-66.0|18.23|3.3
KNA KN LCN HIC IBD -|St. Kitts and Nevis|Basseterre|-62.7309|17.3|0.053
LCA LC LCN UMC IDB -|St. Lucia|Castries|-60.9832|14.0|0.18
VCT VC LCN UMC IDB -|St. Vincent and the Grenadines|Kingstown|-61.2653|13.2035|0.11
SUR SR LCN UMC IBD -|Suriname|Paramaribo|-55.1679|5.8232|0.59
TTO TT LCN HIC IBD -|Trinidad and Tobago|Port-of-Spain|-61.4789|10.6596|1.4
TCA TC LCN HIC LNX -|Turks and Caicos Islands|Grand Turk|-71.1414|21.4603|0.039
URY UY LCN HIC IBD -|Uruguay|Montevideo|-56.0675|-34.8941|3.5
VEN VE LCN UMC IBD F|Venezuela, RB|Caracas|-69.8371|9.08165|28.4
DZA DZ MEA LMC IBD A|Algeria|Algiers|3.05097|36.7397|43.9
BHR BH MEA HIC LNX A|Bahrain|Manama|50.5354|26.1921|1.7
DJI DJ MEA LMC IDX AL|Djibouti|Djibouti|43.1425|11.5806|0.99
EGY EG MEA LMC IBD AP|Egypt, Arab Rep.|Cairo|31.2461|30.0982|102.3
IRN IR MEA LMC IBD -|Iran, Islamic Rep.|Tehran|51.4447|35.6878|84.0
IRQ IQ MEA UMC IBD AF|Iraq|Baghdad|44.394|33.3302|40.2
ISR IL MEA HIC LNX O|Israel|Jerusalem|35.2035|31.7717|9.2
JOR JO MEA UMC IBD A|Jordan|Amman|35.9263|31.9497|10.2
KWT KW MEA HIC LNX A|Kuwait|Kuwait City|47.9824|29.3721|4.3
LBN LB MEA UMC IBD AF|Lebanon|Beirut|35.5134|33.8872|6.8
LBY LY MEA UMC IBD AF|Libya|Tripoli|13.1072|32.8578|6.9
MLT MT MEA HIC LNX EZP|Malta|Valletta|14.5189|35.9042|0.52
MAR MA MEA LMC IBD A|Morocco|Rabat|-6.8704|33.9905|36.9
OMN OM MEA HIC LNX A|Oman|Muscat|58.5874|23.6105|5.1
QAT QA MEA HIC LNX A|Qatar|Doha|51.5082|25.2948|2.9
SAU SA MEA HIC LNX AP|Saudi Arabia|Riyadh|46.6977|24.6748|35.0
SYR SY MEA LIC IDX AF|Syrian Arab Republic|Damascus|36.3119|33.5146|17.5
TUN TN MEA LMC IBD A|Tunisia|Tunis|10.21|36.7899|11.8
ARE AE MEA HIC LNX A|United Arab Emirates|Abu Dhabi|54.3705|24.4764|9.9
PSE PS MEA LMC LNX AF|West Bank and Gaza||35.2|31.9|4.8
YEM YE MEA LIC IDX AFL|Yemen, Rep.|Sana'a|44.2075|15.3522|29.8
BMU BM NAC HIC LNX -|Bermuda|Hamilton|-64.706|32.3293|0.064
CAN CA NAC HIC LNX O|Canada|Ottawa|-75.6919|45.4215|38.0
USA US NAC HIC LNX O|United States|Washington D.C.|-77.032|38.8895|331.5
AFG AF SAS LIC IDX FHL|Afghanistan|Kabul|69.1761|34.5228|38.9
BGD BD SAS LMC IDX L|Bangladesh|Dhaka|90.4113|23.7055|164.7
BTN BT SAS LMC IDX L|Bhutan|Thimphu|89.6177|27.5768|0.77
IND IN SAS LMC IBD P|India|New Delhi|77.225|28.6353|1380
MDV MV SAS UMC IDX -|Maldives|Male|73.5109|4.1742|0.54
NPL NP SAS LMC IDX L|Nepal|Kathmandu|85.3157|27.6939|29.1
PAK PK SAS LMC IDB -|Pakistan|Islamabad|72.8|30.5167|220.9
LKA LK SAS LMC IBD -|Sri Lanka|Colombo|79.8528|6.92148|21.9
AGO AO SSF LMC IBD L|Angola|Luanda|13.242|-8.81155|32.9
BEN BJ SSF LMC IDX WHL|Benin|Porto-Novo|2.6323|6.4779|12.1
BWA BW SSF UMC IBD -|Botswana|Gaborone|25.9201|-24.6544|2.4
BFA BF SSF LIC IDX WFHL|Burkina Faso|Ouagadougou|-1.53395|12.3605|20.9
BDI BI SSF LIC IDX FHL|Burundi|Bujumbura|29.3639|-3.3784|11.9
CPV CV SSF LMC IDB W|Cabo Verde|Praia|-23.5087|14.9218|0.56
CMR CM SSF LMC IDB WFH|Cameroon|Yaounde|11.5174|3.8721|26.5
CAF CF SSF LIC IDX WFHL|Central African Republic|Bangui|21.6407|5.63056|4.8
TCD TD SSF LIC IDX WFHL|Chad|N'Djamena|15.0445|12.1048|16.4
COM KM SSF LMC IDX AFHL|Comoros|Moroni|43.2418|-11.6986|0.87
COD CD SSF LIC IDX WFHL|Congo, Dem. Rep.|Kinshasa|15.3136|-4.325|89.6
COG CG SSF LMC IDB WFH|Congo, Rep.|Brazzaville|15.2662|-4.2767|5.5
CIV CI SSF LMC IDX WH|Cote d'Ivoire|Yamoussoukro|-4.0305|5.332|26.4
GNQ GQ SSF UMC IBD W|Equatorial Guinea|Malabo|8.7741|3.7523|1.4
ERI ER SSF LIC IDX FHL|Eritrea|Asmara|38.9183|15.3315|3.6
SWZ SZ SSF LMC IBD -|Eswatini|Mbabane|31.4659|-26.5225|1.2
ETH ET SSF LIC IDX FHL|Ethiopia|Addis Ababa|38.7468|9.02274|115.0
GAB GA SSF UMC IBD W|Gabon|Libreville|9.45162|0.38832|2.2
GMB GM SSF LIC IDX WFHL|Gambia, The|Banjul|-16.5885|13.4495|2.4
GHA GH SSF LMC IDX WH|Ghana|Accra|-0.20795|5.57045|31.1
GIN GN SSF LIC IDX WHL|Guinea|Conakry|-13.7|9.51667|13.1
GNB GW SSF LIC IDX WFHL|Guinea-Bissau|Bissau|-15.1804|11.8037|2.0
KEN KE SSF LMC IDB -|Kenya|Nairobi|36.8126|-1.27975|53.8
LSO LS SSF LMC IDX L|Lesotho|Maseru|27.7167|-29.5208|2.1
LBR LR SSF LIC IDX WFHL|Liberia|Monrovia|-10.7957|6.30039|5.1
MDG MG SSF LIC IDX HL|Madagascar|Antananarivo|45.7167|-20.4667|27.7
MWI MW SSF LIC IDX HL|Malawi|Lilongwe|33.7703|-13.9899|19.1
MLI ML SSF LIC IDX WFHL|Mali|Bamako|-7.50034|13.5667|20.3
MRT MR SSF LMC IDX WAHL|Mauritania|Nouakchott|-15.9824|18.2367|4.6
MUS MU SSF UMC IBD -|Mauritius|Port Louis|57.4977|-20.1605|1.3
MOZ MZ SSF LIC IDX FHL|Mozambique|Maputo|32.5713|-25.9664|31.3
NAM NA SSF UMC IBD -|Namibia|Windhoek|17.0931|-22.5648|2.5
NER NE SSF LIC IDX WFHL|Niger|Niamey|2.1073|13.514|24.2
NGA NG SSF LMC IDB WF|Nigeria|Abuja|7.48906|9.05804|206.1
RWA RW SSF LIC IDX HL|Rwanda|Kigali|30.0587|-1.95325|12.9
STP ST SSF LMC IDX WFHL|Sao Tome and Principe|Sao Tome|6.6071|0.20618|0.22
SEN SN SSF LMC IDX WHL|Senegal|Dakar|-17.4734|14.7247|16.7
SYC SC SSF HIC IBD -|Seychelles|Victoria|55.4466|-4.6309|0.098
SLE SL SSF LIC IDX WHL|Sierra Leone|Freetown|-13.2134|8.4821|8.0
SOM SO SSF LIC IDX AFHL|Somalia|Mogadishu|45.3254|2.07515|15.9
ZAF ZA SSF UMC IBD P|South Africa|Pretoria|28.1871|-25.746|59.3
SSD SS SSF LIC IDX FL|South Sudan|Juba|31.6|4.85|11.2
SDN SD SSF LIC IDX AFHL|Sudan|Khartoum|32.5363|15.5932|43.8
TZA TZ SSF LMC IDX HL|Tanzania|Dodoma|35.7382|-6.17486|59.7
TGO TG SSF LIC IDX WHL|Togo|Lome|1.2255|6.1228|8.3
UGA UG SSF LIC IDX HL|Uganda|Kampala|32.5729|0.314269|45.7
ZMB ZM SSF LMC IDX HL|Zambia|Lusaka|28.2937|-15.3982|18.4
ZWE ZW SSF LMC IDB F|Zimbabwe|Harare|31.0672|-17.8312|14.9
"""

# National currency and its rough 2020 rate per US dollar, for the OECD gdp XDC series.
CURRENCIES: dict[str, tuple[str, float]] = {
    "AUS": ("AUD", 1.45), "AUT": ("EUR", 0.88), "BEL": ("EUR", 0.88), "CAN": ("CAD", 1.34),
    "CHL": ("CLP", 792.0), "COL": ("COP", 3693.0), "CRI": ("CRC", 585.0), "CZE": ("CZK", 23.2),
    "DNK": ("DKK", 6.54), "EST": ("EUR", 0.88), "FIN": ("EUR", 0.88), "FRA": ("EUR", 0.88),
    "DEU": ("EUR", 0.88), "GRC": ("EUR", 0.88), "HUN": ("HUF", 307.0), "ISL": ("ISK", 135.0),
    "IRL": ("EUR", 0.88), "ISR": ("ILS", 3.44), "ITA": ("EUR", 0.88), "JPN": ("JPY", 106.8),
    "KOR": ("KRW", 1180.0), "LVA": ("EUR", 0.88), "LTU": ("EUR", 0.88), "LUX": ("EUR", 0.88),
    "MEX": ("MXN", 21.5), "NLD": ("EUR", 0.88), "NZL": ("NZD", 1.54), "NOR": ("NOK", 9.42),
    "POL": ("PLN", 3.9), "PRT": ("EUR", 0.88), "SVK": ("EUR", 0.88), "SVN": ("EUR", 0.88),
    "ESP": ("EUR", 0.88), "SWE": ("SEK", 9.21), "CHE": ("CHF", 0.94), "TUR": ("TRY", 7.0),
    "GBR": ("GBP", 0.78), "USA": ("USD", 1.0), "ARG": ("ARS", 70.5), "BRA": ("BRL", 5.16),
    "BGR": ("BGN", 1.72), "CHN": ("CNY", 6.9), "HRV": ("EUR", 0.88), "CYP": ("EUR", 0.88),
    "IND": ("INR", 74.1), "IDN": ("IDR", 14582.0), "MLT": ("EUR", 0.88), "ROU": ("RON", 4.24),
    "RUS": ("RUB", 72.1), "SAU": ("SAR", 3.75), "SGP": ("SGD", 1.38), "ZAF": ("ZAR", 16.5),
    "MYS": ("MYR", 4.2), "THA": ("THB", 31.3), "VNM": ("VND", 23208.0), "PER": ("PEN", 3.5),
    "EGY": ("EGP", 15.8),
}
CURRENCY_NAMES: dict[str, str] = {
    "AUD": "Australian dollar", "EUR": "Euro", "CAD": "Canadian dollar", "CLP": "Chilean peso",
    "COP": "Colombian peso", "CRC": "Costa Rican colon", "CZK": "Czech koruna",
    "DKK": "Danish krone", "HUF": "Hungarian forint", "ISK": "Iceland krona",
    "ILS": "New Israeli sheqel", "JPY": "Yen", "KRW": "Won", "MXN": "Mexican peso",
    "NZD": "New Zealand dollar", "NOK": "Norwegian krone", "PLN": "Zloty", "SEK": "Swedish krona",
    "CHF": "Swiss franc", "TRY": "Turkish lira", "GBP": "Pound sterling", "USD": "US dollar",
    "ARS": "Argentine peso", "BRL": "Brazilian real", "BGN": "Bulgarian lev", "CNY": "Yuan renminbi",
    "INR": "Indian rupee", "IDR": "Rupiah", "RON": "Romanian leu", "RUB": "Russian ruble",
    "SAR": "Saudi riyal", "SGD": "Singapore dollar", "ZAR": "Rand", "MYR": "Malaysian ringgit",
    "THB": "Baht", "VND": "Dong", "PEN": "Sol", "EGP": "Egyptian pound",
}
